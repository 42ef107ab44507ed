#include "core/progress.h"
#include "core/alloc.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

struct reel_progress {
    char *label, *unit;
    FILE *out;
    int tty;
    uint64_t total, done;
    double start, last_draw;
    int last_decile;
};

double reel_now(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec * 1e-9;
}

char *reel_format_bytes(double bytes, char *out, size_t size)
{
    static const char *units[] = {"B", "KiB", "MiB", "GiB", "TiB"};
    int u = 0;
    while (bytes >= 1024 && u < 4) {
        bytes /= 1024;
        u++;
    }
    snprintf(out, size, u ? "%.1f %s" : "%.0f %s", bytes, units[u]);
    return out;
}

static void format_amount(const reel_progress *p, double v, char *out, size_t size)
{
    if (strcmp(p->unit, "B") == 0)
        reel_format_bytes(v, out, size);
    else
        snprintf(out, size, "%.0f %s", v, p->unit);
}

static void format_eta(double s, char *out, size_t size)
{
    if (s < 0 || s > 99 * 3600)
        snprintf(out, size, "--:--");
    else if (s >= 3600)
        snprintf(out, size, "%d:%02d:%02d", (int)s / 3600, (int)s / 60 % 60, (int)s % 60);
    else
        snprintf(out, size, "%02d:%02d", (int)s / 60, (int)s % 60);
}

reel_progress *reel_progress_init_ex(const char *label, uint64_t total, const char *unit, FILE *out,
                                     int tty)
{
    reel_progress *p = reel_xcalloc(1, sizeof *p);
    p->label = reel_xstrdup(label ? label : "");
    p->unit = reel_xstrdup(unit ? unit : "");
    p->out = out ? out : stderr;
    p->tty = tty >= 0 ? tty : isatty(fileno(p->out));
    p->total = total;
    p->start = reel_now();
    p->last_draw = p->start;
    p->last_decile = 0;
    return p;
}

reel_progress *reel_progress_init(const char *label, uint64_t total, const char *unit)
{
    return reel_progress_init_ex(label, total, unit, stderr, -1);
}

static void draw(reel_progress *p, double now, int final)
{
    double elapsed = now - p->start;
    double rate = elapsed > 0 ? (double)p->done / elapsed : 0;
    char done[32], tot[32], rt[32], eta[16];
    format_amount(p, (double)p->done, done, sizeof done);
    format_amount(p, rate, rt, sizeof rt);
    if (final && !p->tty) {
        fprintf(p->out, "%s: done, %s in %.1f s (%s/s)\n", p->label, done, elapsed, rt);
        fflush(p->out);
        return;
    }
    if (p->total) {
        double frac = (double)p->done / (double)p->total;
        if (frac > 1) frac = 1;
        format_amount(p, (double)p->total, tot, sizeof tot);
        format_eta(rate > 0 ? (double)(p->total - (p->done < p->total ? p->done : p->total)) / rate
                            : -1,
                   eta, sizeof eta);
        if (p->tty) {
            char bar[31];
            int fill = (int)(frac * 30);
            for (int i = 0; i < 30; i++) bar[i] = i < fill ? '#' : '-';
            bar[30] = '\0';
            fprintf(p->out, "\r\033[K%s [%s] %3.0f%% %s/%s %s/s ETA %s", p->label, bar, frac * 100,
                    done, tot, rt, eta);
        } else {
            fprintf(p->out, "%s: %3.0f%% %s/%s %s/s ETA %s\n", p->label, frac * 100, done, tot, rt,
                    eta);
        }
    } else {
        if (p->tty)
            fprintf(p->out, "\r\033[K%s %s %s/s", p->label, done, rt);
        else
            fprintf(p->out, "%s: %s %s/s\n", p->label, done, rt);
    }
    if (final) fprintf(p->out, "\n%s: done, %s in %.1f s (%s/s)\n", p->label, done, elapsed, rt);
    fflush(p->out);
}

void reel_progress_update(reel_progress *p, uint64_t done)
{
    if (!p) return;
    p->done = done;
    double now = reel_now();
    if (p->tty) {
        if (now - p->last_draw >= 0.1) {
            draw(p, now, 0);
            p->last_draw = now;
        }
        return;
    }
    int decile = p->total ? (int)(10.0 * (double)done / (double)p->total) : 0;
    if (decile > 10) decile = 10;
    if (decile > p->last_decile || now - p->last_draw >= 5.0) {
        draw(p, now, 0);
        p->last_draw = now;
        p->last_decile = decile;
    }
}

void reel_progress_set_total(reel_progress *p, uint64_t total)
{
    if (p) p->total = total;
}

void reel_progress_finish(reel_progress *p)
{
    if (!p) return;
    draw(p, reel_now(), 1);
    free(p->label);
    free(p->unit);
    free(p);
}

void reel_progress_cancel(reel_progress *p)
{
    if (!p) return;
    if (p->tty) {
        fputc('\n', p->out);
        fflush(p->out);
    }
    free(p->label);
    free(p->unit);
    free(p);
}
