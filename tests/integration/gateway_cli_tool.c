/* Helper for gateway_cli.sh (no curl needed):
 *   gateway_cli_tool model PATH          write a small random-weight detector
 *   gateway_cli_tool infer URL [MODEL]   POST a generated JPEG to URL/v1/infer; 0 iff 200 + detections
 *   gateway_cli_tool get URL             GET URL, print the body; 0 iff 2xx */
#include "net/net.h"
#include "nn/nn.h"
#include "video/video.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const char *ARCH =
    "{\"input\":{\"h\":64,\"w\":64,\"c\":3},\"num_classes\":2,\"layers\":["
    "{\"name\":\"c1\",\"type\":\"conv\",\"filters\":8,\"size\":3,\"stride\":2},"
    "{\"name\":\"a1\",\"type\":\"silu\"},"
    "{\"name\":\"head\",\"type\":\"conv\",\"filters\":7,\"size\":1}]}";

static int write_model(const char *path)
{
    ec_err err = {0};
    nn_model *m = nn_model_create(ARCH, 5, &err);
    detector *d = m ? detector_from_model(m, &err) : NULL;
    int rc = d && detector_save(d, path, &err) == 0 ? 0 : 1;
    if (rc)
        fprintf(stderr, "model: %s\n", err.msg);
    detector_destroy(d);
    return rc;
}

static int infer(const char *base, const char *model)
{
    ec_err err = {0};
    image *img = image_create(64, 48, 3);
    for (int y = 0; y < 48; y++)
        for (int x = 0; x < 64; x++) {
            uint8_t *p = image_row(img, y) + 3 * x;
            p[0] = (uint8_t)(4 * x), p[1] = (uint8_t)(5 * y), p[2] = 128;
        }
    jpeg_codec *c = jpeg_codec_create(&err);
    uint8_t *jpeg = NULL;
    size_t len = 0;
    jpeg_encode(c, img, 90, &jpeg, &len, &err);
    jpeg_codec_destroy(c);
    image_destroy(img);
    char url[512], mh[128];
    snprintf(url, sizeof url, "%s/v1/infer", base);
    snprintf(mh, sizeof mh, "X-Edgecam-Model: %s", model ? model : "");
    const char *hdrs[] = {"X-Edgecam-Edge: cli", "X-Edgecam-Frame: 1", model ? mh : NULL, NULL};
    struct http_client_config cc = {0};
    http_client *cli = http_client_create(&cc, &err);
    struct http_client_result res;
    int rc = cli ? http_client_request(cli, "POST", url, hdrs, jpeg, len, "image/jpeg", &res, &err) : -1;
    struct det_list dets = {0};
    if (rc == 0)
        rc = wire_dets_from_json((const char *)res.body, res.body_len, &dets, &err);
    printf("%ld %s\n", cli ? res.status : 0L, rc == 0 ? (const char *)res.body : err.msg);
    det_list_free(&dets);
    http_client_destroy(cli);
    free(jpeg);
    return rc == 0 ? 0 : 1;
}

static int get(const char *url)
{
    ec_err err = {0};
    struct http_client_config cc = {0};
    http_client *cli = http_client_create(&cc, &err);
    struct http_client_result res;
    int rc = cli ? http_client_request(cli, "GET", url, NULL, NULL, 0, NULL, &res, &err) : -1;
    printf("%s\n", rc == 0 ? (const char *)res.body : err.msg);
    http_client_destroy(cli);
    return rc == 0 ? 0 : 1;
}

int main(int argc, char **argv)
{
    if (argc >= 3 && strcmp(argv[1], "model") == 0)
        return write_model(argv[2]);
    if (argc >= 3 && strcmp(argv[1], "infer") == 0)
        return infer(argv[2], argc >= 4 ? argv[3] : NULL);
    if (argc >= 3 && strcmp(argv[1], "get") == 0)
        return get(argv[2]);
    fprintf(stderr, "usage: gateway_cli_tool model PATH | infer URL [MODEL] | get URL\n");
    return 2;
}
