/* drill_report.c - a drill's report for people: the terminal table and a
 * self-contained XHTML page with an inline SVG timeline (drill.h).  Both
 * read only the report's JSON, so a report.json kept from an old run can be
 * drawn again. */
#include "drill.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "util.h"

#define GET(o, k) json_object_get((o), (k))

static const char *str(const json_t *o, const char *k)
{
	const char *s = json_string_value(GET(o, k));

	return s ? s : "-";
}

static long long num(const json_t *o, const char *k)
{
	return (long long)json_integer_value(GET(o, k));
}

/* "+1.23s" relative to `from`, or "-" when the field is null. */
static void rel(char *out, size_t n, const json_t *r, const char *k, long long from)
{
	if (json_is_integer(GET(r, k)))
		snprintf(out, n, "+%.2fs", (double)(num(r, k) - from) / 1000);
	else
		snprintf(out, n, "-");
}

void drill_report_text(FILE *f, const json_t *rep)
{
	const json_t *load = GET(rep, "load"), *chk = GET(rep, "check"), *r;
	size_t i;

	fprintf(f, "drill %s on %s (service %s), seed %s, %zu of %lld rounds, load writers=%lld rate=%lld wait=%lld\n",
		str(rep, "scenario"), str(rep, "cluster"), str(rep, "service"), str(rep, "seed"),
		json_array_size(GET(rep, "rounds")), num(rep, "rounds_planned"), num(load, "writers"),
		num(load, "rate"), num(load, "wait"));
	fprintf(f, "%5s  %-12s %-12s %-6s %9s  %-17s %-10s %8s %6s %8s %8s\n", "ROUND", "FAULT",
		"VICTIM", "HOST", "INJECTED", "DETECTED", "RECOVERED", "ACKED", "LOST", "ERRORS",
		"UNAVAIL");
	json_array_foreach(GET(rep, "rounds"), i, r) {
		long long inj = num(r, "injected_at_ms");
		char det[32], recv[32], by[72];

		rel(det, sizeof det, r, "detected_at_ms", inj);
		rel(recv, sizeof recv, r, "recovered_at_ms", inj);
		snprintf(by, sizeof by, "%s %s", det, json_is_string(GET(r, "detected_by")) ? str(r, "detected_by") : "");
		fprintf(f, "%5lld  %-12s %-12s %-6s %8.2fs  %-17s %-10s %8lld %6lld %8lld %7.2fs\n",
			num(r, "round"), str(r, "fault"), str(r, "victim"), str(r, "host"),
			(double)inj / 1000, by, json_is_true(GET(r, "recovered")) ? recv : "NOT RECOVERED",
			num(r, "acked"), num(r, "lost"), num(r, "errors"),
			(double)num(r, "unavailable_ms") / 1000);
	}
	json_array_foreach(GET(rep, "rounds"), i, r)
		if (json_is_string(GET(r, "note")))
			fprintf(f, "round %lld %s: %s\n", num(r, "round"), str(r, "fault"), str(r, "note"));
	fprintf(f, "writes: %lld attempted, %lld acknowledged (%.0f/s), %lld lost, %lld unexpected, "
		   "%lld unread, %lld failed attempts; longest unavailable %.2f s\n",
		num(chk, "attempted"), num(chk, "acknowledged"),
		json_number_value(GET(chk, "writes_per_s")), num(chk, "lost"), num(chk, "unexpected"),
		num(chk, "unread"), num(chk, "errors"), (double)num(chk, "unavailable_ms") / 1000);
	if (num(chk, "below_quorum") > 0)
		fprintf(f, "below quorum: %lld acknowledged writes read back absent at the "
			   "database's read quorum but held by a replica (not lost)\n",
			num(chk, "below_quorum"));
	fprintf(f, "check: %s\n", json_is_true(GET(chk, "valid"))
					  ? "valid (every acknowledged write read back)"
					  : "INVALID (acknowledged writes lost or unreadable)");
	if (json_is_true(GET(rep, "healthy_at_end")))
		fprintf(f, "cluster at the end: healthy (%s)\n", str(rep, "health_at_end"));
	else
		fprintf(f, "cluster at the end: LEFT UNHEALTHY: %s\n", str(rep, "unhealthy_because"));
	fprintf(f, "monitor: %s\n", json_is_true(GET(rep, "monitor_running"))
					    ? "running (its repairs are in the rounds' monitor_events)"
					    : "not running (what the agents alone repaired)");
	if (json_is_string(GET(rep, "stopped_early")))
		fprintf(f, "stopped early: %s\n", str(rep, "stopped_early"));
}

/* ---- HTML ---------------------------------------------------------------------------- */

static void esc(struct buf *b, const char *s)
{
	for (; s && *s; s++)
		switch (*s) {
		case '&': buf_puts(b, "&amp;"); break;
		case '<': buf_puts(b, "&lt;"); break;
		case '>': buf_puts(b, "&gt;"); break;
		case '"': buf_puts(b, "&quot;"); break;
		default: buf_append(b, s, 1);
		}
}

enum { W = 960, ML = 56, MR = 20, MT = 34, PH = 220, MB = 40 };

struct axes {
	double dur_ms, ymax;
};

static double xpos(const struct axes *a, double ms)
{
	double x = ML + ms / a->dur_ms * (W - ML - MR);

	return x < ML ? ML : x > W - MR ? W - MR : x;
}

static double ypos(const struct axes *a, double v)
{
	return MT + PH - v / a->ymax * PH;
}

static void series_line(struct buf *b, const struct axes *a, const json_t *series, const char *key,
			const char *cls)
{
	const json_t *p;
	size_t i;

	buf_printf(b, "<polyline class=\"%s\" points=\"", cls);
	json_array_foreach(series, i, p)
		buf_printf(b, "%s%.1f,%.1f", i ? " " : "", xpos(a, (double)num(p, "t") * 1000 + 500),
			   ypos(a, (double)num(p, key)));
	buf_puts(b, "\"/>\n");
}

static void timeline(struct buf *b, const json_t *rep)
{
	const json_t *series = GET(rep, "series"), *r, *p;
	struct axes a = {.dur_ms = (double)num(rep, "duration_ms"), .ymax = 1};
	size_t i;
	double step;

	if (a.dur_ms < 1000)
		a.dur_ms = 1000;
	json_array_foreach(series, i, p) {
		if ((double)num(p, "acked") > a.ymax)
			a.ymax = (double)num(p, "acked");
		if ((double)num(p, "errors") > a.ymax)
			a.ymax = (double)num(p, "errors");
	}
	buf_printf(b, "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"%d\" height=\"%d\" "
		      "viewBox=\"0 0 %d %d\" font-family=\"sans-serif\" font-size=\"11\">\n",
		   W, MT + PH + MB, W, MT + PH + MB);
	buf_printf(b, "<rect x=\"%d\" y=\"%d\" width=\"%d\" height=\"%d\" fill=\"#fafafa\" stroke=\"#ccc\"/>\n",
		   ML, MT, W - ML - MR, PH);
	/* fault bands: injection to recovery (or to healing, or to the end) */
	json_array_foreach(GET(rep, "rounds"), i, r) {
		double x0 = xpos(&a, (double)num(r, "injected_at_ms")), x1;
		const char *endk = json_is_integer(GET(r, "recovered_at_ms")) ? "recovered_at_ms"
				   : json_is_integer(GET(r, "healed_at_ms"))  ? "healed_at_ms"
									      : NULL;

		x1 = endk ? xpos(&a, (double)num(r, endk)) : W - MR;
		if (x1 - x0 < 3)
			x1 = x0 + 3;
		buf_printf(b, "<rect class=\"fault\" x=\"%.1f\" y=\"%d\" width=\"%.1f\" height=\"%d\" "
			      "fill=\"#e53935\" fill-opacity=\"0.18\"><title>",
			   x0, MT, x1 - x0, PH);
		buf_printf(b, "round %lld: %s ", num(r, "round"), str(r, "fault"));
		esc(b, str(r, "victim"));
		buf_puts(b, " on ");
		esc(b, str(r, "host"));
		buf_puts(b, "</title></rect>\n");
		buf_printf(b, "<text x=\"%.1f\" y=\"%d\" fill=\"#b71c1c\">%lld ", x0, MT - 6,
			   num(r, "round"));
		esc(b, str(r, "victim"));
		buf_puts(b, "</text>\n");
		if (json_is_integer(GET(r, "detected_at_ms"))) {
			double x = xpos(&a, (double)num(r, "detected_at_ms"));

			buf_printf(b, "<line class=\"detect\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
				      "stroke=\"#fb8c00\" stroke-width=\"2\" stroke-dasharray=\"4 2\"/>\n",
				   x, MT, x, MT + PH);
		}
		if (json_is_integer(GET(r, "recovered_at_ms"))) {
			double x = xpos(&a, (double)num(r, "recovered_at_ms"));

			buf_printf(b, "<line class=\"recover\" x1=\"%.1f\" y1=\"%d\" x2=\"%.1f\" y2=\"%d\" "
				      "stroke=\"#2e7d32\" stroke-width=\"2\"/>\n",
				   x, MT, x, MT + PH);
		}
		if (json_is_integer(GET(r, "monitor_repaired_at_ms")))
			buf_printf(b, "<circle class=\"repair\" cx=\"%.1f\" cy=\"%d\" r=\"4\" fill=\"#1565c0\"/>\n",
				   xpos(&a, (double)num(r, "monitor_repaired_at_ms")), MT + 8);
	}
	buf_puts(b, "<g fill=\"none\" stroke-width=\"1.5\">\n");
	buf_puts(b, "<g stroke=\"#1e88e5\">");
	series_line(b, &a, series, "acked", "acked");
	buf_puts(b, "</g><g stroke=\"#d81b60\">");
	series_line(b, &a, series, "errors", "errors");
	buf_puts(b, "</g></g>\n");
	/* axes */
	step = 1000;
	while (a.dur_ms / step > 12)
		step *= step == 1000 ? 5 : 2;
	for (long k = 0; (double)k * step <= a.dur_ms; k++)
		buf_printf(b, "<text x=\"%.1f\" y=\"%d\" text-anchor=\"middle\">%gs</text>\n",
			   xpos(&a, (double)k * step), MT + PH + 14, (double)k * step / 1000);
	buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">%.0f/s</text>\n", ML - 4, MT + 4,
		   a.ymax);
	buf_printf(b, "<text x=\"%d\" y=\"%d\" text-anchor=\"end\">0</text>\n", ML - 4, MT + PH);
	/* legend */
	buf_printf(b,
		   "<g transform=\"translate(%d,%d)\">"
		   "<rect x=\"0\" y=\"-9\" width=\"14\" height=\"10\" fill=\"#e53935\" fill-opacity=\"0.18\"/>"
		   "<text x=\"18\" y=\"0\">fault (injected to recovered)</text>"
		   "<line x1=\"200\" y1=\"-4\" x2=\"214\" y2=\"-4\" stroke=\"#fb8c00\" stroke-width=\"2\" stroke-dasharray=\"4 2\"/>"
		   "<text x=\"218\" y=\"0\">detected</text>"
		   "<line x1=\"290\" y1=\"-4\" x2=\"304\" y2=\"-4\" stroke=\"#2e7d32\" stroke-width=\"2\"/>"
		   "<text x=\"308\" y=\"0\">recovered</text>"
		   "<circle cx=\"387\" cy=\"-4\" r=\"4\" fill=\"#1565c0\"/>"
		   "<text x=\"395\" y=\"0\">monitor repaired</text>"
		   "<line x1=\"520\" y1=\"-4\" x2=\"534\" y2=\"-4\" stroke=\"#1e88e5\" stroke-width=\"2\"/>"
		   "<text x=\"538\" y=\"0\">writes acknowledged per second</text>"
		   "<line x1=\"735\" y1=\"-4\" x2=\"749\" y2=\"-4\" stroke=\"#d81b60\" stroke-width=\"2\"/>"
		   "<text x=\"753\" y=\"0\">failed attempts per second</text></g>\n",
		   ML, MT + PH + 34);
	buf_puts(b, "</svg>\n");
}

static void cell(struct buf *b, const char *s)
{
	buf_puts(b, "<td>");
	esc(b, s);
	buf_puts(b, "</td>");
}

char *drill_report_html(const json_t *rep)
{
	struct buf b = {0};
	const json_t *chk = GET(rep, "check"), *load = GET(rep, "load"), *r;
	bool healthy = json_is_true(GET(rep, "healthy_at_end")), valid = json_is_true(GET(chk, "valid"));
	size_t i;
	char t[64];

	buf_puts(&b, "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<!DOCTYPE html>\n"
		     "<html xmlns=\"http://www.w3.org/1999/xhtml\" lang=\"en\">\n<head>\n"
		     "<meta charset=\"UTF-8\"/>\n<title>shoal drill: ");
	esc(&b, str(rep, "scenario"));
	buf_puts(&b, " on ");
	esc(&b, str(rep, "cluster"));
	buf_puts(&b, "</title>\n<style>\n"
		     "body{font-family:sans-serif;margin:1.5em;color:#222}\n"
		     "table{border-collapse:collapse;font-size:13px}\n"
		     "td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}\n"
		     "th{background:#f0f0f0}\n.bad{color:#b71c1c;font-weight:bold}\n"
		     ".good{color:#2e7d32;font-weight:bold}\n</style>\n</head>\n<body>\n<h1>");
	esc(&b, str(rep, "scenario"));
	buf_puts(&b, " on ");
	esc(&b, str(rep, "cluster"));
	buf_puts(&b, "</h1>\n<p>service ");
	esc(&b, str(rep, "service"));
	buf_printf(&b, ", seed %s, %zu of %lld rounds, load writers=%lld rate=%lld wait=%lld, %.1f s",
		   str(rep, "seed"), json_array_size(GET(rep, "rounds")), num(rep, "rounds_planned"),
		   num(load, "writers"), num(load, "rate"), num(load, "wait"),
		   (double)num(rep, "duration_ms") / 1000);
	buf_printf(&b, "; monitor %s.</p>\n",
		   json_is_true(GET(rep, "monitor_running")) ? "running" : "not running");
	buf_printf(&b, "<p class=\"%s\">", valid ? "good" : "bad");
	buf_printf(&b, "%s: %lld acknowledged writes, %lld lost, %lld unexpected, %lld unreadable; "
		       "longest unavailable %.2f s.</p>\n",
		   valid ? "Every acknowledged write was read back" : "Acknowledged writes were lost",
		   num(chk, "acknowledged"), num(chk, "lost"), num(chk, "unexpected"),
		   num(chk, "unread"), (double)num(chk, "unavailable_ms") / 1000);
	if (num(chk, "below_quorum") > 0)
		buf_printf(&b, "<p>%lld acknowledged writes read back absent at the database's "
			       "read quorum were held by a replica (not lost).</p>\n",
			   num(chk, "below_quorum"));
	buf_printf(&b, "<p class=\"%s\">", healthy ? "good" : "bad");
	if (healthy) {
		buf_puts(&b, "The cluster was healthy at the end.");
	} else {
		buf_puts(&b, "The cluster was LEFT UNHEALTHY: ");
		esc(&b, str(rep, "unhealthy_because"));
	}
	buf_puts(&b, "</p>\n");
	if (json_is_string(GET(rep, "stopped_early"))) {
		buf_puts(&b, "<p class=\"bad\">Stopped early: ");
		esc(&b, str(rep, "stopped_early"));
		buf_puts(&b, "</p>\n");
	}
	timeline(&b, rep);
	buf_puts(&b, "<table>\n<tr><th>round</th><th>fault</th><th>victim</th><th>host</th>"
		     "<th>injected</th><th>detected</th><th>by</th><th>recovered</th>"
		     "<th>acked</th><th>lost</th><th>errors</th><th>unavailable</th></tr>\n");
	json_array_foreach(GET(rep, "rounds"), i, r) {
		long long inj = num(r, "injected_at_ms");

		buf_printf(&b, "<tr><td>%lld</td>", num(r, "round"));
		cell(&b, str(r, "fault"));
		cell(&b, str(r, "victim"));
		cell(&b, str(r, "host"));
		snprintf(t, sizeof t, "%.2fs", (double)inj / 1000);
		cell(&b, t);
		rel(t, sizeof t, r, "detected_at_ms", inj);
		cell(&b, t);
		cell(&b, json_is_string(GET(r, "detected_by")) ? str(r, "detected_by") : "-");
		rel(t, sizeof t, r, "recovered_at_ms", inj);
		cell(&b, json_is_true(GET(r, "recovered")) ? t : "not recovered");
		buf_printf(&b, "<td>%lld</td><td>%lld</td><td>%lld</td><td>%.2fs</td></tr>\n",
			   num(r, "acked"), num(r, "lost"), num(r, "errors"),
			   (double)num(r, "unavailable_ms") / 1000);
	}
	buf_puts(&b, "</table>\n<p>Times are seconds since the load started; detected and "
		     "recovered are relative to the injection.</p>\n</body>\n</html>\n");
	return buf_steal(&b);
}
