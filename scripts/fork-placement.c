/* Where a forked child runs, and what it costs (docs/README-queue.md quotes it).
 *
 * Fork a child that writes 17 pages and _exits, wait for it, 3,000 times, with
 *   same:  parent and child on the parent's CPU (the parent pinned before the loop)
 *   free:  the scheduler decides
 *   other: the child pins itself to another CPU as its first act
 * and again with the parent writing 25 pages of its own after each fork (copy-on-write faults
 * while the child lives): the median of 5 runs each, in µs per iteration. Linux, 2+ CPUs.
 *
 *   cc -O2 -o /tmp/fork-placement scripts/fork-placement.c && /tmp/fork-placement
 */
#define _GNU_SOURCE
#include <sched.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

enum { N = 3000, RUNS = 5, CHILD_PAGES = 17, PARENT_PAGES = 25, PAGE = 4096 };

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec + t.tv_nsec * 1e-9;
}

static void pin(int cpu) {
    cpu_set_t s;
    CPU_ZERO(&s);
    CPU_SET(cpu, &s);
    sched_setaffinity(0, sizeof s, &s);
}

static double one_run(char *heap, const char *mode, int parent_writes, int here, int other) {
    cpu_set_t before;
    sched_getaffinity(0, sizeof before, &before);
    if (!strcmp(mode, "same")) pin(here);
    double t0 = now();
    for (int i = 0; i < N; i++) {
        pid_t p = fork();
        if (p < 0) { perror("fork"); exit(1); }
        if (p == 0) {
            if (!strcmp(mode, "other")) pin(other);
            for (int k = 0; k < CHILD_PAGES; k++) heap[k * PAGE]++;
            _exit(0);
        }
        if (parent_writes)
            for (int k = 32; k < 32 + PARENT_PAGES; k++) heap[k * PAGE]++;
        waitpid(p, 0, 0);
    }
    double us = (now() - t0) / N * 1e6;
    sched_setaffinity(0, sizeof before, &before);
    return us;
}

static int cmp(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(void) {
    cpu_set_t s;
    sched_getaffinity(0, sizeof s, &s);
    int here = sched_getcpu(), other = -1;
    for (int c = 0; c < CPU_SETSIZE; c++)
        if (CPU_ISSET(c, &s) && c != here) { other = c; break; }
    if (other < 0) { fprintf(stderr, "one CPU: nothing to compare\n"); return 2; }
    char *heap = malloc(64 * PAGE);
    memset(heap, 1, 64 * PAGE);
    const char *modes[] = {"same", "free", "other"};
    for (int w = 0; w < 2; w++)
        for (int m = 0; m < 3; m++) {
            double r[RUNS];
            for (int i = 0; i < RUNS; i++) r[i] = one_run(heap, modes[m], w, here, other);
            qsort(r, RUNS, sizeof r[0], cmp);
            printf("%-6s%-15s %6.1f µs per fork+wait (runs %.1f-%.1f)\n", modes[m],
                   w ? " +25 writes" : "", r[RUNS / 2], r[0], r[RUNS - 1]);
        }
    return 0;
}
