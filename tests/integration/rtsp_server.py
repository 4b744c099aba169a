#!/usr/bin/python3
"""A real RTSP server on 127.0.0.1 for the video source tests (GStreamer's gst-rtsp-server).

Serves an endless live H.264 test pattern at rtsp://127.0.0.1:PORT/cam.
Usage: rtsp_server.py [--port N] [--size WxH] [--fps N]
--port 0 (default) binds a free port. Prints "PORT <n>" on stdout once it is listening,
then serves until killed. Exits by itself after --lifetime seconds (default 120) so a
crashed test can never leave it running; it also exits when its parent process goes away.
"""
import argparse
import os
import sys

import gi

gi.require_version("Gst", "1.0")
gi.require_version("GstRtspServer", "1.0")
from gi.repository import GLib, Gst, GstRtspServer  # noqa: E402


def main():
    ap = argparse.ArgumentParser()
    ap.add_argument("--port", type=int, default=0)
    ap.add_argument("--size", default="320x240")
    ap.add_argument("--fps", type=int, default=30)
    ap.add_argument("--lifetime", type=int, default=120)
    args = ap.parse_args()
    w, h = (int(v) for v in args.size.split("x"))

    Gst.init(None)
    server = GstRtspServer.RTSPServer()
    server.set_address("127.0.0.1")
    server.set_service(str(args.port))
    factory = GstRtspServer.RTSPMediaFactory()
    factory.set_launch(
        "( videotestsrc is-live=true pattern=ball "
        f"! video/x-raw,width={w},height={h},framerate={args.fps}/1 "
        "! x264enc tune=zerolatency speed-preset=ultrafast key-int-max=15 "
        "! rtph264pay name=pay0 pt=96 config-interval=1 )")
    factory.set_shared(True)
    server.get_mount_points().add_factory("/cam", factory)
    if server.attach(None) == 0:
        print(f"cannot listen on 127.0.0.1:{args.port}", file=sys.stderr)
        return 1
    print(f"PORT {server.get_bound_port()}", flush=True)
    loop = GLib.MainLoop()
    GLib.timeout_add_seconds(args.lifetime, loop.quit)
    parent = os.getppid()

    def parent_alive():
        if os.getppid() != parent:
            loop.quit()
            return False
        return True

    GLib.timeout_add(300, parent_alive)
    loop.run()
    return 0


if __name__ == "__main__":
    sys.exit(main())
