/* Small HTML/SVG writers for the demo report: escaped text, line and bar charts. */
#include "demo/demo.h"

#include <math.h>
#include <stdio.h>

double demo_percentile(const double *sorted, size_t n, double p)
{
    if (n == 0 || !sorted)
        return 0;
    if (!(p > 0))
        return sorted[0];
    double r = ceil(p / 100.0 * (double)n);
    size_t rank = r >= (double)n ? n : (size_t)r;
    return sorted[rank > 0 ? rank - 1 : 0];
}

void demo_html_escape(FILE *out, const char *s)
{
    for (; s && *s; s++) {
        switch (*s) {
        case '&': fputs("&amp;", out); break;
        case '<': fputs("&lt;", out); break;
        case '>': fputs("&gt;", out); break;
        case '"': fputs("&quot;", out); break;
        case '\'': fputs("&#39;", out); break;
        default: fputc(*s, out);
        }
    }
}

static const char *const series_colours[] = {"#d62728", "#1f77b4", "#2ca02c", "#ff7f0e",
                                              "#9467bd", "#8c564b", "#e377c2", "#17becf"};
#define NCOLOURS (int)(sizeof series_colours / sizeof series_colours[0])

enum { W = 800, H = 320, ML = 60, MR = 250, MT = 30, MB = 45 };

struct axes {
    double x0, x1, y0, y1;
};

static double px(const struct axes *a, double x)
{
    return ML + (x - a->x0) / (a->x1 - a->x0) * (W - ML - MR);
}

static double py(const struct axes *a, double y)
{
    return H - MB - (y - a->y0) / (a->y1 - a->y0) * (H - MT - MB);
}

static void svg_open(FILE *out, const char *title)
{
    fprintf(out, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
                 "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n"
                 "<rect width=\"%d\" height=\"%d\" fill=\"white\"/>\n"
                 "<text x=\"%d\" y=\"18\" font-size=\"13\" font-weight=\"bold\">",
            W, H, W, H, W, H, ML);
    demo_html_escape(out, title);
    fputs("</text>\n", out);
}

static void svg_axes(FILE *out, const struct axes *a, const char *xlabel, const char *ylabel,
                     int xticks)
{
    fprintf(out, "<g stroke=\"#888\" fill=\"none\"><rect x=\"%d\" y=\"%d\" width=\"%d\" "
                 "height=\"%d\"/></g>\n", ML, MT, W - ML - MR, H - MT - MB);
    for (int i = 0; i <= 4; i++) {
        double yv = a->y0 + (a->y1 - a->y0) * i / 4, xv = a->x0 + (a->x1 - a->x0) * i / 4;
        fprintf(out, "<text x=\"%d\" y=\"%.1f\" text-anchor=\"end\">%.3g</text>\n", ML - 4,
                py(a, yv) + 4, yv);
        if (xticks)
            fprintf(out, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%.3g</text>\n",
                    px(a, xv), H - MB + 14, xv);
    }
    fprintf(out, "<text x=\"%d\" y=\"%d\" text-anchor=\"middle\">", (W - MR + ML) / 2, H - 8);
    demo_html_escape(out, xlabel);
    fprintf(out, "</text>\n<text x=\"14\" y=\"%d\" transform=\"rotate(-90 14 %d)\" "
                 "text-anchor=\"middle\">", (H - MB + MT) / 2, (H - MB + MT) / 2);
    demo_html_escape(out, ylabel);
    fputs("</text>\n", out);
}

static void legend(FILE *out, int i, const char *name)
{
    int y = MT + 8 + i * 16;
    fprintf(out, "<rect x=\"%d\" y=\"%d\" width=\"12\" height=\"3\" fill=\"%s\"/>"
                 "<text x=\"%d\" y=\"%d\">", W - MR + 10, y - 2, series_colours[i % NCOLOURS],
            W - MR + 26, y + 2);
    demo_html_escape(out, name);
    fputs("</text>\n", out);
}

static void data_range(const struct demo_series *s, int ns, struct axes *a)
{
    a->x0 = a->y0 = INFINITY;
    a->x1 = a->y1 = -INFINITY;
    for (int k = 0; k < ns; k++)
        for (int i = 0; i < s[k].n; i++) {
            if (!isfinite(s[k].x[i]) || !isfinite(s[k].y[i]) || s[k].y[i] < 0)
                continue;
            a->x0 = fmin(a->x0, s[k].x[i]);
            a->x1 = fmax(a->x1, s[k].x[i]);
            a->y0 = fmin(a->y0, s[k].y[i]);
            a->y1 = fmax(a->y1, s[k].y[i]);
        }
    if (!(a->x0 < a->x1)) {
        a->x0 = isfinite(a->x0) ? a->x0 - 1 : 0;
        a->x1 = a->x0 + 2;
    }
    if (!(a->y0 < a->y1)) {
        a->y0 = isfinite(a->y0) ? a->y0 - 1 : 0;
        a->y1 = a->y0 + 2;
    }
}

void demo_svg_lines(FILE *out, const char *title, const char *xlabel, const char *ylabel,
                    const struct demo_series *s, int ns, double ymin, double ymax)
{
    struct axes a;
    data_range(s, ns, &a);
    if (ymin < ymax) {
        a.y0 = ymin;
        a.y1 = ymax;
    }
    svg_open(out, title);
    svg_axes(out, &a, xlabel, ylabel, 1);
    for (int k = 0; k < ns; k++) {
        const char *colour = series_colours[k % NCOLOURS];
        int open = 0;
        for (int i = 0; i < s[k].n; i++) {
            double x = s[k].x[i], y = s[k].y[i];
            if (!isfinite(x) || !isfinite(y) || y < 0) {
                if (open)
                    fputs("\"/>\n", out);
                open = 0;
                continue;
            }
            y = fmin(fmax(y, a.y0), a.y1);
            if (!open)
                fprintf(out, "<polyline fill=\"none\" stroke=\"%s\" stroke-width=\"2\"%s "
                             "points=\"", colour, s[k].dashed ? " stroke-dasharray=\"6 3\"" : "");
            fprintf(out, "%.1f,%.1f ", px(&a, x), py(&a, y));
            open = 1;
        }
        if (open)
            fputs("\"/>\n", out);
        legend(out, k, s[k].name);
    }
    fputs("</svg>\n", out);
}

void demo_svg_bars(FILE *out, const char *title, const char *ylabel, const char *const *labels,
                   const double *values, int n)
{
    struct axes a = {0, n > 0 ? n : 1, 0, 0};
    for (int i = 0; i < n; i++)
        if (isfinite(values[i]))
            a.y1 = fmax(a.y1, values[i]);
    a.y1 = a.y1 > 0 ? a.y1 * 1.1 : 1;
    svg_open(out, title);
    svg_axes(out, &a, "", ylabel, 0);
    double bw = (double)(W - ML - MR) / (n > 0 ? n : 1);
    for (int i = 0; i < n; i++) {
        double v = isfinite(values[i]) && values[i] > 0 ? values[i] : 0;
        fprintf(out, "<rect x=\"%.1f\" y=\"%.1f\" width=\"%.1f\" height=\"%.1f\" fill=\"%s\"/>\n",
                px(&a, i) + bw * 0.15, py(&a, v), bw * 0.7, py(&a, 0) - py(&a, v),
                series_colours[i % NCOLOURS]);
        legend(out, i, labels[i]);
    }
    fputs("</svg>\n", out);
}
