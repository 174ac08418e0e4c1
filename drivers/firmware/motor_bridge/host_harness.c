/*
 * Host test harness for the motor bridge firmware code (bridge_protocol.c).
 *
 *   host_harness run [--ticks-per-rev N] [--wheel-radius-mm R] [--battery-mv MV]
 *                    [--max-seconds S]
 *       Runs the firmware protocol handler against stdin (host -> MCU bytes) and
 *       stdout (MCU -> host bytes) with a real millisecond clock and two simulated
 *       wheels that follow the set-points exactly.  stdin and stdout may be pipes or
 *       a pseudo-terminal (blocking or not).  Exits on end of input or after S seconds.
 *
 *   host_harness encode
 *       Reads one request per line and prints one line of lowercase hex per request
 *       ("error" if it fails), so tests can compare C and Python byte for byte:
 *         crc HEX | cobs HEX | decode HEX | frame TYPE SEQ HEX |
 *         encoders SEQ MS LEFT RIGHT | hello SEQ DEADMAN ENC_PERIOD STATUS_PERIOD UV |
 *         status SEQ MS MV FAULTS LEFT RIGHT ACK RX_FRAMES RX_CRC RX_FRAMING RX_BAD
 *       HEX is "-" for no bytes.
 *
 * Build: cc -std=c99 -Wall -Wextra -Werror -O2 host_harness.c bridge_protocol.c
 *
 * The Arduino IDE compiles every .c file of the sketch folder: under ARDUINO this
 * file is empty.
 */
#ifndef ARDUINO
#define _POSIX_C_SOURCE 200809L

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/select.h>
#include <time.h>
#include <unistd.h>

#include "bridge_protocol.h"

#define PI 3.14159265358979323846
#define MAX_HEX_BYTES 4096

/* ---- run mode ------------------------------------------------------------------------ */

static long monotonic_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long)ts.tv_sec * 1000L + ts.tv_nsec / 1000000L;
}

static void write_all(void *ctx, const uint8_t *data, size_t len)
{
    int fd = *(int *)ctx;
    while (len > 0) {
        ssize_t n = write(fd, data, len);
        if (n > 0) {
            data += n;
            len -= (size_t)n;
        } else if (n < 0 && (errno == EAGAIN || errno == EINTR)) {
            fd_set w;
            struct timeval tv = {0, 10000};
            FD_ZERO(&w);
            FD_SET(fd, &w);
            select(fd + 1, NULL, &w, NULL, &tv);
        } else {
            exit(0); /* the reader went away */
        }
    }
}

static int32_t wrap_ticks(double pos)
{
    long long whole = (long long)pos;
    if ((double)whole > pos) {
        whole -= 1; /* floor for negative positions */
    }
    return (int32_t)(uint32_t)(unsigned long long)whole;
}

static int run(int argc, char **argv)
{
    double ticks_per_rev = 1440.0;
    double radius_mm = 50.0;
    long battery_mv = 12000;
    double max_seconds = 60.0;
    int out_fd = STDOUT_FILENO;
    int i;
    bridge_t bridge;
    long start, last;
    double pos_left = 0.0, pos_right = 0.0;
    for (i = 2; i + 1 < argc; i += 2) {
        if (strcmp(argv[i], "--ticks-per-rev") == 0) {
            ticks_per_rev = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "--wheel-radius-mm") == 0) {
            radius_mm = atof(argv[i + 1]);
        } else if (strcmp(argv[i], "--battery-mv") == 0) {
            battery_mv = atol(argv[i + 1]);
        } else if (strcmp(argv[i], "--max-seconds") == 0) {
            max_seconds = atof(argv[i + 1]);
        } else {
            fprintf(stderr, "host_harness: unknown option %s\n", argv[i]);
            return 2;
        }
    }
    start = monotonic_ms();
    last = start;
    bridge_init(&bridge, 0u, write_all, &out_fd);
    for (;;) {
        uint8_t buf[256];
        fd_set r;
        struct timeval tv = {0, 1000};
        long now;
        double dt, per_mm;
        FD_ZERO(&r);
        FD_SET(STDIN_FILENO, &r);
        now = monotonic_ms();
        if (select(STDIN_FILENO + 1, &r, NULL, NULL, &tv) > 0) {
            ssize_t n = read(STDIN_FILENO, buf, sizeof buf);
            if (n == 0) {
                return 0;
            }
            if (n < 0 && errno != EAGAIN && errno != EINTR) {
                return errno == EIO ? 0 : 1; /* EIO: the pty's other end closed */
            }
            now = monotonic_ms();
            if (n > 0) {
                bridge_rx(&bridge, buf, (size_t)n, (uint32_t)(now - start));
            }
        }
        now = monotonic_ms();
        dt = (double)(now - last) / 1000.0;
        last = now;
        per_mm = ticks_per_rev / (2.0 * PI * radius_mm);
        pos_left += (double)bridge_left_mm_s(&bridge) * dt * per_mm;
        pos_right += (double)bridge_right_mm_s(&bridge) * dt * per_mm;
        bridge_poll(&bridge, (uint32_t)(now - start), wrap_ticks(pos_left), wrap_ticks(pos_right),
                    (uint16_t)battery_mv);
        if ((double)(now - start) > max_seconds * 1000.0) {
            return 0;
        }
    }
}

/* ---- encode mode --------------------------------------------------------------------- */

static int parse_hex(const char *text, uint8_t *out, size_t cap, size_t *len)
{
    size_t n = strlen(text);
    size_t i;
    if (strcmp(text, "-") == 0) {
        *len = 0;
        return 0;
    }
    if (n % 2u != 0u || n / 2u > cap) {
        return -1;
    }
    for (i = 0; i < n / 2u; i++) {
        unsigned int v;
        if (sscanf(text + 2u * i, "%2x", &v) != 1) {
            return -1;
        }
        out[i] = (uint8_t)v;
    }
    *len = n / 2u;
    return 0;
}

static void print_hex(const uint8_t *data, size_t len)
{
    size_t i;
    if (len == 0u) {
        printf("-");
    }
    for (i = 0; i < len; i++) {
        printf("%02x", data[i]);
    }
    printf("\n");
}

static long arg(char **tok, int i)
{
    return tok[i] ? strtol(tok[i], NULL, 0) : 0;
}

static void encode_line(char *line)
{
    static uint8_t in[MAX_HEX_BYTES];
    static uint8_t out[2u * MAX_HEX_BYTES];
    char *tok[16];
    int ntok = 0;
    char *t = strtok(line, " \t\r\n");
    size_t len = 0;
    size_t n = 0;
    while (t != NULL && ntok < 16) {
        tok[ntok++] = t;
        t = strtok(NULL, " \t\r\n");
    }
    if (ntok == 0) {
        return;
    }
    while (ntok < 16) {
        tok[ntok++] = NULL;
    }
    if (strcmp(tok[0], "crc") == 0 && tok[1] && parse_hex(tok[1], in, sizeof in, &len) == 0) {
        printf("%04x\n", bridge_crc16(in, len));
        return;
    }
    if (strcmp(tok[0], "cobs") == 0 && tok[1] && parse_hex(tok[1], in, sizeof in, &len) == 0) {
        n = bridge_cobs_encode(in, len, out, sizeof out);
    } else if (strcmp(tok[0], "decode") == 0 && tok[1] &&
               parse_hex(tok[1], in, sizeof in, &len) == 0) {
        if (bridge_cobs_decode(in, len, out, sizeof out, &n) == 0) {
            print_hex(out, n);
            return;
        }
        n = 0;
    } else if (strcmp(tok[0], "frame") == 0 && tok[3] &&
               parse_hex(tok[3], in, sizeof in, &len) == 0) {
        n = bridge_encode_frame((uint8_t)arg(tok, 1), (uint8_t)arg(tok, 2), in, len, out,
                                sizeof out);
    } else if (strcmp(tok[0], "encoders") == 0) {
        n = bridge_encode_encoders((uint8_t)arg(tok, 1), (uint32_t)strtoul(tok[2] ? tok[2] : "0",
                                   NULL, 0), (int32_t)arg(tok, 3), (int32_t)arg(tok, 4), out,
                                   sizeof out);
    } else if (strcmp(tok[0], "hello") == 0) {
        bridge_config_t c;
        c.deadman_ms = (uint16_t)arg(tok, 2);
        c.encoder_period_ms = (uint16_t)arg(tok, 3);
        c.status_period_ms = (uint16_t)arg(tok, 4);
        c.undervoltage_mv = (uint16_t)arg(tok, 5);
        n = bridge_encode_hello((uint8_t)arg(tok, 1), &c, out, sizeof out);
    } else if (strcmp(tok[0], "status") == 0) {
        bridge_status_t s;
        s.device_ms = (uint32_t)strtoul(tok[2] ? tok[2] : "0", NULL, 0);
        s.battery_mv = (uint16_t)arg(tok, 3);
        s.faults = (uint16_t)arg(tok, 4);
        s.applied_left_mm_s = (int16_t)arg(tok, 5);
        s.applied_right_mm_s = (int16_t)arg(tok, 6);
        s.ack_seq = (uint8_t)arg(tok, 7);
        s.rx_frames = (uint16_t)arg(tok, 8);
        s.rx_crc_errors = (uint16_t)arg(tok, 9);
        s.rx_framing_errors = (uint16_t)arg(tok, 10);
        s.rx_bad_messages = (uint16_t)arg(tok, 11);
        n = bridge_encode_status((uint8_t)arg(tok, 1), &s, out, sizeof out);
    }
    if (n == 0u) {
        printf("error\n");
    } else {
        print_hex(out, n);
    }
}

static int encode(void)
{
    static char line[2u * MAX_HEX_BYTES + 256u];
    while (fgets(line, sizeof line, stdin) != NULL) {
        encode_line(line);
        fflush(stdout);
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (argc >= 2 && strcmp(argv[1], "run") == 0) {
        return run(argc, argv);
    }
    if (argc >= 2 && strcmp(argv[1], "encode") == 0) {
        return encode();
    }
    fprintf(stderr, "usage: host_harness run [options] | host_harness encode\n");
    return 2;
}

#else
typedef int bridge_host_harness_unused; /* ISO C forbids an empty translation unit */
#endif /* ARDUINO */
