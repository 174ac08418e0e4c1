/*
 * Motor bridge protocol, microcontroller side: framing, CRC, messages and the
 * handler state machine with its own deadman.  See PROTOCOL.md.
 *
 * Plain C99, no malloc, no I/O, no clock: the application passes the time in
 * milliseconds and a write callback, so the same code runs on an AVR or ARM
 * microcontroller and in the host test harness.
 */
#ifndef BRIDGE_PROTOCOL_H
#define BRIDGE_PROTOCOL_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define BRIDGE_PROTOCOL_VERSION 1u
#define BRIDGE_FW_MAJOR 1u
#define BRIDGE_FW_MINOR 0u

/* sizes */
#define BRIDGE_MAX_PAYLOAD 32u
#define BRIDGE_MAX_BODY (BRIDGE_MAX_PAYLOAD + 4u)   /* type, seq, payload, crc */
#define BRIDGE_MAX_ENCODED (BRIDGE_MAX_BODY + 1u)   /* COBS adds one byte per 254 */
#define BRIDGE_MAX_FRAME (BRIDGE_MAX_ENCODED + 1u)  /* plus the 0x00 delimiter */

/* message types, host -> MCU */
#define BRIDGE_MSG_SET_WHEEL_VELOCITY 0x01u
#define BRIDGE_MSG_HEARTBEAT 0x02u
#define BRIDGE_MSG_ESTOP 0x03u
#define BRIDGE_MSG_CONFIG 0x04u
#define BRIDGE_MSG_RESET_FAULTS 0x05u
#define BRIDGE_MSG_REQUEST_HELLO 0x06u
/* message types, MCU -> host */
#define BRIDGE_MSG_HELLO 0x81u
#define BRIDGE_MSG_ENCODERS 0x82u
#define BRIDGE_MSG_STATUS 0x83u

/* payload sizes (a receiver accepts longer payloads and ignores the extra bytes) */
#define BRIDGE_LEN_SET_WHEEL_VELOCITY 4u
#define BRIDGE_LEN_HEARTBEAT 0u
#define BRIDGE_LEN_ESTOP 1u
#define BRIDGE_LEN_CONFIG 8u
#define BRIDGE_LEN_RESET_FAULTS 2u
#define BRIDGE_LEN_REQUEST_HELLO 0u
#define BRIDGE_LEN_HELLO 13u
#define BRIDGE_LEN_ENCODERS 12u
#define BRIDGE_LEN_STATUS 21u

/* fault flags: DEADMAN and UNDERVOLTAGE are live, the others latched until RESET_FAULTS */
#define BRIDGE_FAULT_DEADMAN 0x0001u
#define BRIDGE_FAULT_ESTOP 0x0002u
#define BRIDGE_FAULT_OVERCURRENT 0x0004u
#define BRIDGE_FAULT_UNDERVOLTAGE 0x0008u
#define BRIDGE_FAULT_CRC_ERROR 0x0010u
#define BRIDGE_FAULT_FRAMING_ERROR 0x0020u
#define BRIDGE_FAULT_BAD_MESSAGE 0x0040u
#define BRIDGE_FAULT_BOOT 0x0080u
#define BRIDGE_FAULTS_STOPPING                                                      \
    (BRIDGE_FAULT_DEADMAN | BRIDGE_FAULT_ESTOP | BRIDGE_FAULT_OVERCURRENT |         \
     BRIDGE_FAULT_UNDERVOLTAGE)
#define BRIDGE_FAULTS_LATCHED                                                       \
    (BRIDGE_FAULT_ESTOP | BRIDGE_FAULT_OVERCURRENT | BRIDGE_FAULT_CRC_ERROR |       \
     BRIDGE_FAULT_FRAMING_ERROR | BRIDGE_FAULT_BAD_MESSAGE | BRIDGE_FAULT_BOOT)

/* defaults and limits */
#define BRIDGE_DEFAULT_DEADMAN_MS 500u
#define BRIDGE_DEADMAN_MIN_MS 20u
#define BRIDGE_DEADMAN_MAX_MS 10000u
#define BRIDGE_DEFAULT_ENCODER_PERIOD_MS 20u
#define BRIDGE_DEFAULT_STATUS_PERIOD_MS 500u
#define BRIDGE_MIN_ENCODER_PERIOD_MS 5u
#define BRIDGE_MIN_STATUS_PERIOD_MS 10u
#define BRIDGE_UNDERVOLTAGE_HYSTERESIS_MV 200u
#ifndef BRIDGE_MAX_WHEEL_MM_S
#define BRIDGE_MAX_WHEEL_MM_S 2000
#endif

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection; "123456789" -> 0x29B1 */
uint16_t bridge_crc16(const uint8_t *data, size_t len);

/* COBS encode len bytes (no delimiter); returns the encoded length, 0 if cap is too small */
size_t bridge_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap);

/* COBS decode (no delimiter); returns 0 and sets *out_len, or -1 if invalid or too long */
int bridge_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                       size_t *out_len);

/* One wire frame: COBS(type seq payload crc) 0x00; returns its length, 0 if it does not fit */
size_t bridge_encode_frame(uint8_t type, uint8_t seq, const uint8_t *payload, size_t len,
                           uint8_t *out, size_t cap);

typedef struct {
    uint16_t deadman_ms;
    uint16_t encoder_period_ms; /* 0: no periodic ENCODERS */
    uint16_t status_period_ms;  /* 0: STATUS only when the faults change */
    uint16_t undervoltage_mv;   /* 0: no undervoltage check */
} bridge_config_t;

typedef struct {
    uint32_t device_ms;
    uint16_t battery_mv;
    uint16_t faults;
    int16_t applied_left_mm_s;
    int16_t applied_right_mm_s;
    uint8_t ack_seq;
    uint16_t rx_frames;
    uint16_t rx_crc_errors;
    uint16_t rx_framing_errors;
    uint16_t rx_bad_messages;
} bridge_status_t;

/* MCU-side message encoders: frame into out (>= BRIDGE_MAX_FRAME bytes); return its length */
size_t bridge_encode_hello(uint8_t seq, const bridge_config_t *config, uint8_t *out,
                           size_t cap);
size_t bridge_encode_encoders(uint8_t seq, uint32_t device_ms, int32_t left_ticks,
                              int32_t right_ticks, uint8_t *out, size_t cap);
size_t bridge_encode_status(uint8_t seq, const bridge_status_t *status, uint8_t *out,
                            size_t cap);

/* how the bridge sends bytes (e.g. Serial.write); called from bridge_poll only */
typedef void (*bridge_write_fn)(void *ctx, const uint8_t *data, size_t len);

typedef struct {
    bridge_write_fn write;
    void *write_ctx;
    bridge_config_t config;
    /* receive */
    uint8_t rx_buf[BRIDGE_MAX_ENCODED];
    uint8_t rx_len;
    uint8_t rx_overflow;
    uint8_t ack_seq;
    uint16_t rx_frames, rx_crc_errors, rx_framing_errors, rx_bad_messages;
    /* command and faults */
    uint8_t has_command;     /* a command arrived within deadman_ms */
    uint32_t last_command_ms;
    int16_t cmd_left_mm_s, cmd_right_mm_s;
    uint16_t latched;        /* latched fault flags */
    uint8_t undervoltage;
    uint16_t reported_faults;
    /* transmit */
    uint8_t tx_seq;
    uint8_t hello_pending;
    uint32_t last_encoder_ms, last_status_ms;
    uint16_t battery_mv;
} bridge_t;

/* Start (at boot): default config, BOOT flag, deadman engaged, a HELLO queued. */
void bridge_init(bridge_t *b, uint32_t now_ms, bridge_write_fn write, void *write_ctx);

/* Feed received bytes; completed frames are checked and applied at once. */
void bridge_rx(bridge_t *b, const uint8_t *data, size_t len, uint32_t now_ms);

/* Call often (every loop pass, >= 200 Hz): runs the deadman and undervoltage checks
 * and sends HELLO, ENCODERS and STATUS when due (STATUS also whenever the faults change). */
void bridge_poll(bridge_t *b, uint32_t now_ms, int32_t left_ticks, int32_t right_ticks,
                 uint16_t battery_mv);

/* Latch faults the application detects (e.g. BRIDGE_FAULT_OVERCURRENT); stops the motors. */
void bridge_raise_fault(bridge_t *b, uint16_t flags);

/* Current fault word (live and latched flags). */
uint16_t bridge_faults(const bridge_t *b);

/* Set-points the motors must follow now, mm/s (zero while a stopping fault is active). */
int16_t bridge_left_mm_s(const bridge_t *b);
int16_t bridge_right_mm_s(const bridge_t *b);

#ifdef __cplusplus
}
#endif

#endif /* BRIDGE_PROTOCOL_H */
