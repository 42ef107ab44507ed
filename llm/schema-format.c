/* JSON Schema "format" to GBNF: each format is a grammar for a subset of its RFC syntax, so
 * every string the grammar accepts is valid in the format (the validator judges by the same
 * grammar). The subsets:
 *   date       RFC 3339 full-date; 29 February only in leap years (Gregorian rule).
 *   time       RFC 3339 full-time: HH:MM:SS, 1-9 fraction digits, "Z" or +HH:MM / -HH:MM
 *              (upper-case Z only; no leap second 60).
 *   date-time  date "T" time (upper-case T).
 *   duration   ISO 8601 as RFC 3339 appendix A writes it (PnYnMnDTnHnMnS, PnW).
 *   uuid       RFC 4122 8-4-4-4-12 hex digits, either case.
 *   ipv4       dotted quad, no leading zeros.
 *   ipv6       RFC 4291 text forms ("::" compression, trailing dotted quad), no zone id.
 *   hostname   RFC 1123 labels of 1-41 letters, digits and inner hyphens, 1-6 labels (so the
 *              whole stays under 253 characters).
 *   email      RFC 5321 dot-string local part (1-4 atoms of 1-15 characters) "@" a hostname
 *              of 1-4 labels; no quoted local parts or address literals.
 *   uri        RFC 3986 URI: scheme ":" hier-part with a reg-name host and a numeric port,
 *              then query and fragment; no IP literals in brackets.
 */
#include "llm/schema-impl.h"

#include <string.h>

enum {
    G_DATE = 1 << 0,
    G_TIME = 1 << 1,
    G_DUR = 1 << 2,
    G_UUID = 1 << 3,
    G_IPV4 = 1 << 4,
    G_IPV6 = 1 << 5,
    G_LABEL = 1 << 6,
    G_EMAIL = 1 << 7,
    G_URI = 1 << 8,
};

static const struct {
    unsigned bit;
    const char *text;
} GROUPS[] = {
    {G_DATE, "fmt-date ::= [0-9]{4} \"-\" fmt-md | fmt-leap \"-02-29\"\n"
             "fmt-md ::= (\"01\" | \"03\" | \"05\" | \"07\" | \"08\" | \"10\" | \"12\") \"-\" "
             "(\"0\" [1-9] | [12] [0-9] | \"3\" [01]) | (\"04\" | \"06\" | \"09\" | \"11\") \"-\" "
             "(\"0\" [1-9] | [12] [0-9] | \"30\") | \"02-\" (\"0\" [1-9] | \"1\" [0-9] | \"2\" "
             "[0-8])\n"
             "fmt-leap ::= [0-9]{2} (\"0\" [48] | [2468] [048] | [13579] [26]) | ([02468] [048] | "
             "[13579] [26]) \"00\"\n"},
    {G_TIME, "fmt-time ::= fmt-hh \":\" [0-5] [0-9] \":\" [0-5] [0-9] (\".\" [0-9]{1,9})? "
             "(\"Z\" | [+-] fmt-hh \":\" [0-5] [0-9])\n"
             "fmt-hh ::= [01] [0-9] | \"2\" [0-3]\n"},
    {G_DUR, "fmt-duration ::= \"P\" (fmt-dur-date | fmt-dur-time | [0-9]+ \"W\")\n"
            "fmt-dur-date ::= ([0-9]+ \"D\" | fmt-dur-month | [0-9]+ \"Y\" fmt-dur-month?) "
            "fmt-dur-time?\n"
            "fmt-dur-month ::= [0-9]+ \"M\" ([0-9]+ \"D\")?\n"
            "fmt-dur-time ::= \"T\" (fmt-dur-hour | fmt-dur-minute | [0-9]+ \"S\")\n"
            "fmt-dur-hour ::= [0-9]+ \"H\" fmt-dur-minute?\n"
            "fmt-dur-minute ::= [0-9]+ \"M\" ([0-9]+ \"S\")?\n"},
    {G_UUID, "fmt-uuid ::= fmt-hex{8} \"-\" fmt-hex{4} \"-\" fmt-hex{4} \"-\" fmt-hex{4} \"-\" "
             "fmt-hex{12}\n"
             "fmt-hex ::= [0-9a-fA-F]\n"},
    {G_IPV4, "fmt-ipv4 ::= fmt-octet \".\" fmt-octet \".\" fmt-octet \".\" fmt-octet\n"
             "fmt-octet ::= \"25\" [0-5] | \"2\" [0-4] [0-9] | \"1\" [0-9] [0-9] | [1-9] [0-9] | "
             "[0-9]\n"},
    {G_IPV6, "fmt-ipv6 ::= fmt-h16c{6} fmt-ls32 | \"::\" fmt-h16c{5} fmt-ls32 | fmt-h16? \"::\" "
             "fmt-h16c{4} fmt-ls32 | (fmt-h16c{0,1} fmt-h16)? \"::\" fmt-h16c{3} fmt-ls32 | "
             "(fmt-h16c{0,2} fmt-h16)? \"::\" fmt-h16c{2} fmt-ls32 | (fmt-h16c{0,3} fmt-h16)? "
             "\"::\" fmt-h16c fmt-ls32 | (fmt-h16c{0,4} fmt-h16)? \"::\" fmt-ls32 | (fmt-h16c{0,5} "
             "fmt-h16)? \"::\" fmt-h16 | (fmt-h16c{0,6} fmt-h16)? \"::\"\n"
             "fmt-h16 ::= [0-9a-fA-F]{1,4}\n"
             "fmt-h16c ::= fmt-h16 \":\"\n"
             "fmt-ls32 ::= fmt-h16 \":\" fmt-h16 | fmt-ipv4\n"},
    {G_LABEL, "fmt-hostname ::= fmt-label (\".\" fmt-label){0,5}\n"
              "fmt-label ::= [a-zA-Z0-9] ([a-zA-Z0-9-]{0,39} [a-zA-Z0-9])?\n"},
    {G_EMAIL, "fmt-email ::= fmt-atom (\".\" fmt-atom){0,3} \"@\" fmt-label (\".\" "
              "fmt-label){0,3}\n"
              "fmt-atom ::= [a-zA-Z0-9!#$%&'*+/=?^_`{|}~-]{1,15}\n"},
    {G_URI, "fmt-uri ::= [a-zA-Z] [a-zA-Z0-9+.-]* \":\" fmt-hier (\"?\" fmt-query)? (\"#\" "
            "fmt-query)?\n"
            "fmt-hier ::= \"//\" fmt-authority fmt-abempty | \"/\" (fmt-pchar+ fmt-abempty)? | "
            "fmt-pchar+ fmt-abempty | \"\"\n"
            "fmt-authority ::= (fmt-userinfo \"@\")? fmt-regname (\":\" [0-9]*)?\n"
            "fmt-userinfo ::= (fmt-unres | fmt-pct | fmt-subd | \":\")*\n"
            "fmt-regname ::= (fmt-unres | fmt-pct | fmt-subd)*\n"
            "fmt-abempty ::= (\"/\" fmt-pchar*)*\n"
            "fmt-pchar ::= fmt-unres | fmt-pct | fmt-subd | [:@]\n"
            "fmt-query ::= (fmt-pchar | [/?])*\n"
            "fmt-unres ::= [a-zA-Z0-9._~-]\n"
            "fmt-pct ::= \"%\" [0-9a-fA-F] [0-9a-fA-F]\n"
            "fmt-subd ::= [!$&'()*+,;=]\n"},
};

/* min_len/max_len: the shortest and longest string each grammar accepts (-1: no limit) */
static const struct {
    const char *name, *rule;
    unsigned groups;
    int min_len, max_len;
} FORMATS[] = {
    {"date", "fmt-date", G_DATE, 10, 10},
    {"time", "fmt-time", G_TIME, 9, 24},
    {"date-time", "fmt-date \"T\" fmt-time", G_DATE | G_TIME, 20, 35},
    {"duration", "fmt-duration", G_DUR, 3, -1},
    {"uuid", "fmt-uuid", G_UUID, 36, 36},
    {"ipv4", "fmt-ipv4", G_IPV4, 7, 15},
    {"ipv6", "fmt-ipv6", G_IPV6 | G_IPV4, 2, 45},
    {"hostname", "fmt-hostname", G_LABEL, 1, 251},
    {"email", "fmt-email", G_EMAIL | G_LABEL, 3, 231},
    {"uri", "fmt-uri", G_URI, 2, -1},
};

/* A URI no longer than max_len (at least 95): scheme of up to 16 characters, "//", a host
 * name of up to 63, a port of up to 5 digits, then path, query and fragment of up to a third
 * of the rest each, without percent-encoding (so characters count exactly). At least 4
 * characters ("a://"). A subset of fmt-uri. */
static void bounded_uri(reel_strbuf *out, long long max_len)
{
    long long third = (max_len - 16 - 3 - 63 - 6 - 3) / 3;
    const char *pc = "-a-zA-Z0-9._~!$&'()*+,;=:@";
    reel_strbuf_printf(out,
                       "([a-zA-Z] [a-zA-Z0-9+.-]{0,15} \"://\" [a-zA-Z0-9._~!$&'()*+,;=-]{0,63} "
                       "(\":\" [0-9]{1,5})? (\"/\" [%s/]{0,%lld})? (\"?\" [%s/?]{0,%lld})? "
                       "(\"#\" [%s/?]{0,%lld})?)",
                       pc, third - 1, pc, third - 1, pc, third - 1);
}

int reeli_format_gbnf(const char *format, long long min_len, long long max_len, const char *ptr,
                      reel_strbuf *out, reel_strbuf *rules, unsigned *emitted)
{
    for (size_t i = 0; i < sizeof FORMATS / sizeof *FORMATS; i++) {
        if (strcmp(format, FORMATS[i].name) != 0) continue;
        int fits = FORMATS[i].min_len >= min_len &&
                   (max_len < 0 || (FORMATS[i].max_len >= 0 && FORMATS[i].max_len <= max_len));
        if (!fits && strcmp(format, "uri") == 0 && min_len <= 4 && max_len >= 95) {
            bounded_uri(out, max_len);
            return 0;
        }
        if (!fits)
            return reeli_schema_fail(ptr,
                                     "'format' '%s' with minLength/maxLength is supported "
                                     "when every %s of %d..%d characters fits them (a uri: "
                                     "maxLength at least 95, minLength at most 4)",
                                     format, format, FORMATS[i].min_len, FORMATS[i].max_len);
        for (size_t g = 0; g < sizeof GROUPS / sizeof *GROUPS; g++) {
            if (!(FORMATS[i].groups & GROUPS[g].bit) || (*emitted & GROUPS[g].bit)) continue;
            reel_strbuf_str(rules, GROUPS[g].text);
            *emitted |= GROUPS[g].bit;
        }
        reel_strbuf_printf(out, "(%s)", FORMATS[i].rule);
        return 0;
    }
    return reeli_schema_fail(ptr,
                             "'format' '%s' is not supported (date, time, date-time, "
                             "duration, uuid, email, uri, ipv4, ipv6, hostname)",
                             format);
}
