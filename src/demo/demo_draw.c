/* Annotated frames: box outlines and labels drawn straight into RGB images (then JPEG). */
#include "demo/demo.h"

#include "synth/synth.h"

#include <ctype.h>
#include <math.h>
#include <stdio.h>
#include <string.h>

/* 3x5 glyphs, rows top to bottom, '1' = ink. */
static const struct glyph {
    char c;
    const char *rows;
} font[] = {
    {'A', "010101111101101"}, {'B', "110101110101110"}, {'C', "011100100100011"},
    {'D', "110101101101110"}, {'E', "111100110100111"}, {'F', "111100110100100"},
    {'G', "011100101101011"}, {'H', "101101111101101"}, {'I', "111010010010111"},
    {'J', "001001001101010"}, {'K', "101101110101101"}, {'L', "100100100100111"},
    {'M', "101111111101101"}, {'N', "110101101101101"}, {'O', "010101101101010"},
    {'P', "110101110100100"}, {'Q', "010101101110011"}, {'R', "110101110101101"},
    {'S', "011100010001110"}, {'T', "111010010010010"}, {'U', "101101101101111"},
    {'V', "101101101101010"}, {'W', "101101111111101"}, {'X', "101101010101101"},
    {'Y', "101101010010010"}, {'Z', "111001010100111"}, {'0', "111101101101111"},
    {'1', "010110010010111"}, {'2', "110001010100111"}, {'3', "110001010001110"},
    {'4', "101101111001001"}, {'5', "111100110001110"}, {'6', "011100111101111"},
    {'7', "111001010010010"}, {'8', "111101111101111"}, {'9', "111101111001110"},
    {'.', "000000000000010"}, {':', "000010000010000"}, {'-', "000000111000000"},
    {'_', "000000000000111"}, {'/', "001001010100100"}, {'%', "101001010100101"},
    {'(', "010100100100010"}, {')', "010001001001010"}, {' ', "000000000000000"},
};

static const char *glyph_rows(char c)
{
    c = (char)toupper((unsigned char)c);
    for (size_t i = 0; i < sizeof font / sizeof font[0]; i++)
        if (font[i].c == c)
            return font[i].rows;
    return font[sizeof font / sizeof font[0] - 1].rows; /* unknown: blank */
}

/* Fills the rectangle [x0, x1) x [y0, y1), clipped to the image. */
static void fill_rect(image *img, long x0, long y0, long x1, long y1, const uint8_t rgb[3])
{
    if (!img || img->c != 3)
        return;
    x0 = x0 < 0 ? 0 : x0;
    y0 = y0 < 0 ? 0 : y0;
    x1 = x1 > img->w ? img->w : x1;
    y1 = y1 > img->h ? img->h : y1;
    for (long y = y0; y < y1; y++) {
        uint8_t *p = image_row(img, (int)y) + x0 * 3;
        for (long x = x0; x < x1; x++, p += 3)
            memcpy(p, rgb, 3);
    }
}

/* Pixel coordinate of a box edge, kept in a range where long arithmetic cannot overflow. */
static long clamp_coord(float v, int limit)
{
    if (v < -1.0f)
        return -1;
    if (v > (float)limit + 1.0f)
        return limit + 1;
    return lroundf(v);
}

void demo_draw_box(image *img, float x1, float y1, float x2, float y2, const uint8_t rgb[3],
                   int thick)
{
    if (!img || !isfinite(x1) || !isfinite(y1) || !isfinite(x2) || !isfinite(y2) || x2 <= x1 ||
        y2 <= y1 || thick < 1)
        return;
    long l = clamp_coord(x1, img->w), t = clamp_coord(y1, img->h);
    long r = clamp_coord(x2, img->w), b = clamp_coord(y2, img->h);
    fill_rect(img, l, t, r, t + thick, rgb);       /* top */
    fill_rect(img, l, b - thick, r, b, rgb);       /* bottom */
    fill_rect(img, l, t, l + thick, b, rgb);       /* left */
    fill_rect(img, r - thick, t, r, b, rgb);       /* right */
}

void demo_draw_text(image *img, int x, int y, const char *text, const uint8_t rgb[3], int scale)
{
    static const uint8_t backing[3] = {0, 0, 0};
    if (!img || !text || scale < 1)
        return;
    size_t len = strlen(text);
    fill_rect(img, x - 1, y - 1, x + (long)len * 4 * scale, y + 5L * scale + 1, backing);
    for (size_t i = 0; i < len; i++) {
        const char *rows = glyph_rows(text[i]);
        long gx = x + (long)i * 4 * scale;
        for (int r = 0; r < 5; r++)
            for (int c = 0; c < 3; c++)
                if (rows[r * 3 + c] == '1')
                    fill_rect(img, gx + (long)c * scale, y + (long)r * scale,
                              gx + (long)(c + 1) * scale, y + (long)(r + 1) * scale, rgb);
    }
}

void demo_class_colour(int cls, uint8_t rgb[3])
{
    static const uint8_t palette[][3] = {
        {255, 64, 64},  /* car */
        {64, 255, 64},  /* person */
        {255, 220, 0},  /* bicycle */
        {64, 160, 255}, /* bus */
        {255, 0, 255},
    };
    int n = (int)(sizeof palette / sizeof palette[0]);
    memcpy(rgb, palette[cls >= 0 && cls < n - 1 ? cls : n - 1], 3);
}

void demo_draw_dets(image *img, const struct det_list *dets)
{
    for (int i = 0; dets && i < dets->n; i++) {
        const struct det *d = &dets->v[i];
        uint8_t rgb[3];
        demo_class_colour(d->cls, rgb);
        demo_draw_box(img, d->x1, d->y1, d->x2, d->y2, rgb, 2);
        const char *name = synth_class_name(d->cls);
        char label[48];
        snprintf(label, sizeof label, "%s %.2f", name ? name : "?", (double)d->score);
        if (!isfinite(d->x1) || !isfinite(d->y1))
            continue;
        long tx = clamp_coord(d->x1, img->w), ty = clamp_coord(d->y1, img->h) - 12;
        demo_draw_text(img, (int)tx, ty < 1 ? 1 : (int)ty, label, rgb, 2);
    }
}
