/*
 * Motor bridge protocol, microcontroller side.  See bridge_protocol.h and PROTOCOL.md.
 * Plain C99: no malloc, no I/O, no floating point, no host-only headers.
 */
#include "bridge_protocol.h"

/* ---- little-endian helpers -------------------------------------------------------- */

static void put_u16(uint8_t *p, uint16_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)(v >> 8);
}

static void put_u32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v & 0xFFu);
    p[1] = (uint8_t)((v >> 8) & 0xFFu);
    p[2] = (uint8_t)((v >> 16) & 0xFFu);
    p[3] = (uint8_t)(v >> 24);
}

static uint16_t get_u16(const uint8_t *p)
{
    return (uint16_t)((uint16_t)p[0] | (uint16_t)((uint16_t)p[1] << 8));
}

static int16_t get_i16(const uint8_t *p)
{
    uint16_t u = get_u16(p);
    /* two's complement without implementation-defined conversion */
    return (u & 0x8000u) ? (int16_t)(-(int16_t)(uint16_t)(~u) - 1) : (int16_t)u;
}

static uint16_t sat_inc(uint16_t v)
{
    return (v == 0xFFFFu) ? v : (uint16_t)(v + 1u);
}

/* ---- CRC and COBS ------------------------------------------------------------------ */

uint16_t bridge_crc16(const uint8_t *data, size_t len)
{
    uint16_t crc = 0xFFFFu;
    size_t i;
    uint8_t bit;
    for (i = 0; i < len; i++) {
        crc ^= (uint16_t)((uint16_t)data[i] << 8);
        for (bit = 0; bit < 8u; bit++) {
            if (crc & 0x8000u) {
                crc = (uint16_t)((uint16_t)(crc << 1) ^ 0x1021u);
            } else {
                crc = (uint16_t)(crc << 1);
            }
        }
    }
    return crc;
}

size_t bridge_cobs_encode(const uint8_t *in, size_t len, uint8_t *out, size_t cap)
{
    size_t i;
    size_t code_pos = 0;
    size_t o = 1;
    uint8_t code = 1;
    if (cap < 1u) {
        return 0;
    }
    for (i = 0; i < len; i++) {
        if (in[i] != 0u) {
            if (o >= cap) {
                return 0;
            }
            out[o++] = in[i];
            code++;
            if (code != 0xFFu) {
                continue;
            }
        }
        /* close the block: a zero byte, or 254 data bytes */
        out[code_pos] = code;
        if (o >= cap) {
            return 0;
        }
        code_pos = o++;
        code = 1;
    }
    out[code_pos] = code;
    return o;
}

int bridge_cobs_decode(const uint8_t *in, size_t len, uint8_t *out, size_t cap,
                       size_t *out_len)
{
    size_t i = 0;
    size_t o = 0;
    while (i < len) {
        uint8_t code = in[i];
        size_t end = i + (size_t)code;
        size_t k;
        if (code == 0u || end > len) {
            return -1;
        }
        for (k = i + 1u; k < end; k++) {
            if (in[k] == 0u || o >= cap) {
                return -1;
            }
            out[o++] = in[k];
        }
        i = end;
        if (code != 0xFFu && i < len) {
            if (o >= cap) {
                return -1;
            }
            out[o++] = 0;
        }
    }
    *out_len = o;
    return 0;
}

size_t bridge_encode_frame(uint8_t type, uint8_t seq, const uint8_t *payload, size_t len,
                           uint8_t *out, size_t cap)
{
    uint8_t body[BRIDGE_MAX_BODY];
    size_t i;
    size_t n;
    if (len > BRIDGE_MAX_PAYLOAD) {
        return 0;
    }
    body[0] = type;
    body[1] = seq;
    for (i = 0; i < len; i++) {
        body[2u + i] = payload[i];
    }
    put_u16(&body[2u + len], bridge_crc16(body, 2u + len));
    n = bridge_cobs_encode(body, 4u + len, out, cap);
    if (n == 0u || n >= cap) {
        return 0;
    }
    out[n] = 0;
    return n + 1u;
}

/* ---- MCU-side messages ------------------------------------------------------------- */

size_t bridge_encode_hello(uint8_t seq, const bridge_config_t *config, uint8_t *out,
                           size_t cap)
{
    uint8_t p[BRIDGE_LEN_HELLO];
    p[0] = (uint8_t)BRIDGE_PROTOCOL_VERSION;
    p[1] = (uint8_t)BRIDGE_FW_MAJOR;
    p[2] = (uint8_t)BRIDGE_FW_MINOR;
    put_u16(&p[3], config->deadman_ms);
    put_u16(&p[5], config->encoder_period_ms);
    put_u16(&p[7], config->status_period_ms);
    put_u16(&p[9], config->undervoltage_mv);
    put_u16(&p[11], (uint16_t)BRIDGE_MAX_WHEEL_MM_S);
    return bridge_encode_frame(BRIDGE_MSG_HELLO, seq, p, sizeof p, out, cap);
}

size_t bridge_encode_encoders(uint8_t seq, uint32_t device_ms, int32_t left_ticks,
                              int32_t right_ticks, uint8_t *out, size_t cap)
{
    uint8_t p[BRIDGE_LEN_ENCODERS];
    put_u32(&p[0], device_ms);
    put_u32(&p[4], (uint32_t)left_ticks);
    put_u32(&p[8], (uint32_t)right_ticks);
    return bridge_encode_frame(BRIDGE_MSG_ENCODERS, seq, p, sizeof p, out, cap);
}

size_t bridge_encode_status(uint8_t seq, const bridge_status_t *s, uint8_t *out, size_t cap)
{
    uint8_t p[BRIDGE_LEN_STATUS];
    put_u32(&p[0], s->device_ms);
    put_u16(&p[4], s->battery_mv);
    put_u16(&p[6], s->faults);
    put_u16(&p[8], (uint16_t)s->applied_left_mm_s);
    put_u16(&p[10], (uint16_t)s->applied_right_mm_s);
    p[12] = s->ack_seq;
    put_u16(&p[13], s->rx_frames);
    put_u16(&p[15], s->rx_crc_errors);
    put_u16(&p[17], s->rx_framing_errors);
    put_u16(&p[19], s->rx_bad_messages);
    return bridge_encode_frame(BRIDGE_MSG_STATUS, seq, p, sizeof p, out, cap);
}

/* ---- the handler state machine ---------------------------------------------------- */

void bridge_init(bridge_t *b, uint32_t now_ms, bridge_write_fn write, void *write_ctx)
{
    uint8_t *raw = (uint8_t *)b;
    size_t i;
    for (i = 0; i < sizeof *b; i++) {
        raw[i] = 0;
    }
    b->write = write;
    b->write_ctx = write_ctx;
    b->config.deadman_ms = BRIDGE_DEFAULT_DEADMAN_MS;
    b->config.encoder_period_ms = BRIDGE_DEFAULT_ENCODER_PERIOD_MS;
    b->config.status_period_ms = BRIDGE_DEFAULT_STATUS_PERIOD_MS;
    b->config.undervoltage_mv = 0;
    b->latched = BRIDGE_FAULT_BOOT;
    b->hello_pending = 1;
    b->reported_faults = 0; /* differs from the boot faults: first poll sends STATUS */
    b->last_command_ms = now_ms;
    b->last_encoder_ms = now_ms;
    b->last_status_ms = now_ms;
}

uint16_t bridge_faults(const bridge_t *b)
{
    uint16_t f = b->latched;
    if (!b->has_command) {
        f |= BRIDGE_FAULT_DEADMAN;
    }
    if (b->undervoltage) {
        f |= BRIDGE_FAULT_UNDERVOLTAGE;
    }
    return f;
}

static int motors_held(const bridge_t *b)
{
    return (bridge_faults(b) & BRIDGE_FAULTS_STOPPING) != 0u;
}

int16_t bridge_left_mm_s(const bridge_t *b)
{
    return motors_held(b) ? (int16_t)0 : b->cmd_left_mm_s;
}

int16_t bridge_right_mm_s(const bridge_t *b)
{
    return motors_held(b) ? (int16_t)0 : b->cmd_right_mm_s;
}

static void stop_motors(bridge_t *b)
{
    b->cmd_left_mm_s = 0;
    b->cmd_right_mm_s = 0;
}

void bridge_raise_fault(bridge_t *b, uint16_t flags)
{
    b->latched |= (uint16_t)(flags & BRIDGE_FAULTS_LATCHED);
    if (flags & BRIDGE_FAULTS_STOPPING) {
        stop_motors(b);
    }
}

static int16_t clamp_speed(int16_t v)
{
    if (v > BRIDGE_MAX_WHEEL_MM_S) {
        return (int16_t)BRIDGE_MAX_WHEEL_MM_S;
    }
    if (v < -BRIDGE_MAX_WHEEL_MM_S) {
        return (int16_t)-BRIDGE_MAX_WHEEL_MM_S;
    }
    return v;
}

static uint16_t clamp_period(uint16_t v, uint16_t min)
{
    return (v != 0u && v < min) ? min : v;
}

static void refresh_deadman(bridge_t *b, uint32_t now_ms)
{
    b->has_command = 1;
    b->last_command_ms = now_ms;
}

static void apply(bridge_t *b, uint8_t type, const uint8_t *p, uint32_t now_ms)
{
    uint16_t v;
    switch (type) {
    case BRIDGE_MSG_SET_WHEEL_VELOCITY:
        refresh_deadman(b, now_ms);
        if (motors_held(b)) {
            stop_motors(b); /* accepted, but held at zero until the fault is reset */
        } else {
            b->cmd_left_mm_s = clamp_speed(get_i16(&p[0]));
            b->cmd_right_mm_s = clamp_speed(get_i16(&p[2]));
        }
        break;
    case BRIDGE_MSG_HEARTBEAT:
        refresh_deadman(b, now_ms);
        break;
    case BRIDGE_MSG_ESTOP:
        if (p[0] != 0u) {
            bridge_raise_fault(b, BRIDGE_FAULT_ESTOP);
        }
        break;
    case BRIDGE_MSG_CONFIG:
        v = get_u16(&p[0]);
        if (v < BRIDGE_DEADMAN_MIN_MS) {
            v = BRIDGE_DEADMAN_MIN_MS;
        } else if (v > BRIDGE_DEADMAN_MAX_MS) {
            v = BRIDGE_DEADMAN_MAX_MS;
        }
        b->config.deadman_ms = v;
        b->config.encoder_period_ms = clamp_period(get_u16(&p[2]), BRIDGE_MIN_ENCODER_PERIOD_MS);
        b->config.status_period_ms = clamp_period(get_u16(&p[4]), BRIDGE_MIN_STATUS_PERIOD_MS);
        b->config.undervoltage_mv = get_u16(&p[6]);
        b->hello_pending = 1;
        break;
    case BRIDGE_MSG_RESET_FAULTS:
        b->latched &= (uint16_t)~(get_u16(&p[0]) & BRIDGE_FAULTS_LATCHED);
        break;
    case BRIDGE_MSG_REQUEST_HELLO:
        b->hello_pending = 1;
        break;
    default:
        break;
    }
}

#define BRIDGE_UNKNOWN_TYPE ((size_t)0xFFFFu)

static size_t payload_len(uint8_t type)
{
    switch (type) {
    case BRIDGE_MSG_SET_WHEEL_VELOCITY: return BRIDGE_LEN_SET_WHEEL_VELOCITY;
    case BRIDGE_MSG_HEARTBEAT: return BRIDGE_LEN_HEARTBEAT;
    case BRIDGE_MSG_ESTOP: return BRIDGE_LEN_ESTOP;
    case BRIDGE_MSG_CONFIG: return BRIDGE_LEN_CONFIG;
    case BRIDGE_MSG_RESET_FAULTS: return BRIDGE_LEN_RESET_FAULTS;
    case BRIDGE_MSG_REQUEST_HELLO: return BRIDGE_LEN_REQUEST_HELLO;
    default: return BRIDGE_UNKNOWN_TYPE;
    }
}

static void handle_frame(bridge_t *b, uint32_t now_ms)
{
    uint8_t body[BRIDGE_MAX_BODY];
    size_t n = 0;
    size_t need;
    if (bridge_cobs_decode(b->rx_buf, b->rx_len, body, sizeof body, &n) != 0 || n < 4u) {
        b->rx_framing_errors = sat_inc(b->rx_framing_errors);
        b->latched |= BRIDGE_FAULT_FRAMING_ERROR;
        return;
    }
    if (bridge_crc16(body, n - 2u) != get_u16(&body[n - 2u])) {
        b->rx_crc_errors = sat_inc(b->rx_crc_errors);
        b->latched |= BRIDGE_FAULT_CRC_ERROR;
        return;
    }
    need = payload_len(body[0]);
    if (need == BRIDGE_UNKNOWN_TYPE) {
        b->rx_bad_messages = sat_inc(b->rx_bad_messages);
        b->latched |= BRIDGE_FAULT_BAD_MESSAGE;
        return;
    }
    if (n - 4u < need) {
        b->rx_framing_errors = sat_inc(b->rx_framing_errors);
        b->latched |= BRIDGE_FAULT_FRAMING_ERROR;
        return;
    }
    b->rx_frames = sat_inc(b->rx_frames);
    b->ack_seq = body[1];
    apply(b, body[0], &body[2], now_ms);
}

void bridge_rx(bridge_t *b, const uint8_t *data, size_t len, uint32_t now_ms)
{
    size_t i;
    for (i = 0; i < len; i++) {
        uint8_t c = data[i];
        if (c == 0u) {
            if (b->rx_overflow) {
                b->rx_framing_errors = sat_inc(b->rx_framing_errors);
                b->latched |= BRIDGE_FAULT_FRAMING_ERROR;
            } else if (b->rx_len != 0u) {
                handle_frame(b, now_ms);
            }
            b->rx_len = 0;
            b->rx_overflow = 0;
        } else if (!b->rx_overflow) {
            if (b->rx_len < BRIDGE_MAX_ENCODED) {
                b->rx_buf[b->rx_len++] = c;
            } else {
                b->rx_overflow = 1;
            }
        }
    }
}

static void send(bridge_t *b, const uint8_t *frame, size_t n)
{
    if (n != 0u && b->write != 0) {
        b->write(b->write_ctx, frame, n);
    }
    b->tx_seq++;
}

static void send_status(bridge_t *b, uint32_t now_ms, uint16_t faults)
{
    uint8_t frame[BRIDGE_MAX_FRAME];
    bridge_status_t s;
    s.device_ms = now_ms;
    s.battery_mv = b->battery_mv;
    s.faults = faults;
    s.applied_left_mm_s = bridge_left_mm_s(b);
    s.applied_right_mm_s = bridge_right_mm_s(b);
    s.ack_seq = b->ack_seq;
    s.rx_frames = b->rx_frames;
    s.rx_crc_errors = b->rx_crc_errors;
    s.rx_framing_errors = b->rx_framing_errors;
    s.rx_bad_messages = b->rx_bad_messages;
    send(b, frame, bridge_encode_status(b->tx_seq, &s, frame, sizeof frame));
    b->reported_faults = faults;
}

static int due(uint32_t now_ms, uint32_t *last_ms, uint16_t period_ms)
{
    uint32_t elapsed = now_ms - *last_ms;
    if (period_ms == 0u || elapsed < period_ms) {
        return 0;
    }
    /* keep the cadence, but never send a burst to catch up */
    *last_ms = (elapsed < 2u * (uint32_t)period_ms) ? *last_ms + period_ms : now_ms;
    return 1;
}

void bridge_poll(bridge_t *b, uint32_t now_ms, int32_t left_ticks, int32_t right_ticks,
                 uint16_t battery_mv)
{
    uint8_t frame[BRIDGE_MAX_FRAME];
    uint16_t faults;
    uint16_t uv = b->config.undervoltage_mv;
    b->battery_mv = battery_mv;
    if (uv == 0u) {
        b->undervoltage = 0;
    } else if (!b->undervoltage && battery_mv < uv) {
        b->undervoltage = 1;
        stop_motors(b);
    } else if (b->undervoltage &&
               (uint32_t)battery_mv >= (uint32_t)uv + BRIDGE_UNDERVOLTAGE_HYSTERESIS_MV) {
        b->undervoltage = 0;
    }
    if (b->has_command && now_ms - b->last_command_ms > b->config.deadman_ms) {
        b->has_command = 0;
        stop_motors(b);
    }
    if (b->hello_pending) {
        static const uint8_t delimiter = 0; /* ends any partial frame the host holds */
        b->hello_pending = 0;
        if (b->write != 0) {
            b->write(b->write_ctx, &delimiter, 1u);
        }
        send(b, frame, bridge_encode_hello(b->tx_seq, &b->config, frame, sizeof frame));
    }
    faults = bridge_faults(b);
    if (faults != b->reported_faults) {
        b->last_status_ms = now_ms; /* the periodic reports continue from here */
        send_status(b, now_ms, faults);
    } else if (due(now_ms, &b->last_status_ms, b->config.status_period_ms)) {
        send_status(b, now_ms, faults);
    }
    if (due(now_ms, &b->last_encoder_ms, b->config.encoder_period_ms)) {
        send(b, frame, bridge_encode_encoders(b->tx_seq, now_ms, left_ticks, right_ticks, frame,
                                              sizeof frame));
    }
}
