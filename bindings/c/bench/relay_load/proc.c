/* The server's CPU time and memory, read from /proc (Linux). */
#include "load.h"

#include <stdio.h>
#include <string.h>
#include <unistd.h>

/* utime + stime of every thread of the process, fields 14 and 15 of /proc/PID/stat. */
double proc_cpu_seconds(int pid) {
    char path[64], text[1024];
    snprintf(path, sizeof path, "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(text, 1, sizeof text - 1, f);
    fclose(f);
    text[n] = '\0';
    /* The command name may hold spaces: count fields after its closing parenthesis. */
    char *p = strrchr(text, ')');
    unsigned long long utime = 0, stime = 0;
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &utime, &stime) != 2)
        return -1;
    return (double)(utime + stime) / (double)sysconf(_SC_CLK_TCK);
}

/* A "kB" line of /proc/PID/status: VmRSS (resident now) or VmHWM (the peak). */
uint64_t proc_status_kib(int pid, const char *field) {
    char path[64], line[256];
    size_t len = strlen(field);
    unsigned long long kib = 0;
    snprintf(path, sizeof path, "/proc/%d/status", pid);
    FILE *f = fopen(path, "r");
    if (!f) return 0;
    while (fgets(line, sizeof line, f)) {
        if (strncmp(line, field, len) == 0 && line[len] == ':') {
            sscanf(line + len + 1, "%llu", &kib);
            break;
        }
    }
    fclose(f);
    return kib;
}
