// Reference firmware of the robo_orch motor bridge (protocol: PROTOCOL.md).
//
// Arduino Uno/Nano (ATmega328P) or any Arduino-compatible board:
// - serial link to the host at 115200 baud, frames handled by bridge_protocol.c;
// - two quadrature encoders, channel A on an interrupt pin (both edges counted,
//   so ticks per wheel revolution = 2 x encoder lines x gear ratio);
// - two motor drivers with PWM + direction inputs, a PI speed loop per wheel;
// - battery voltage through a resistor divider on an analog pin;
// - optional e-stop input and motor-driver fault (overcurrent) input;
// - the AVR hardware watchdog resets the board if the loop ever hangs (the host
//   then sees the BOOT flag; the motor pins are inputs during reset: motors off).
// The firmware's deadman, e-stop latch and clamping live in bridge_protocol.c.
// A real robot still needs a hardware e-stop that cuts motor power.

#include <Arduino.h>

#include "bridge_protocol.h"

#ifdef __AVR__
#include <avr/wdt.h>
#endif

// ---- pins (Uno/Nano: only 2 and 3 have external interrupts) -------------------------
const uint8_t LEFT_ENC_A = 2;
const uint8_t LEFT_ENC_B = 4;
const uint8_t RIGHT_ENC_A = 3;
const uint8_t RIGHT_ENC_B = 5;
const uint8_t LEFT_PWM = 9;
const uint8_t LEFT_DIR = 8;
const uint8_t RIGHT_PWM = 10;
const uint8_t RIGHT_DIR = 7;
const uint8_t BATTERY_PIN = A0;
const int ESTOP_PIN = -1;  // e-stop input, active low (INPUT_PULLUP); -1: not fitted
const int FAULT_PIN = -1;  // motor driver fault output, active low; -1: not fitted

// ---- robot ------------------------------------------------------------------------------
const float TICKS_PER_REV = 1440.0f;  // must match the driver's ticks_per_rev
const float WHEEL_RADIUS_MM = 50.0f;
const bool LEFT_ENCODER_REVERSED = false;  // flip so that forward counts up
const bool RIGHT_ENCODER_REVERSED = true;  // the right motor is mirrored
const bool LEFT_MOTOR_REVERSED = false;
const bool RIGHT_MOTOR_REVERSED = true;
const float BATTERY_DIVIDER = 11.0f;  // 10k over 1k
const float ADC_REFERENCE_MV = 5000.0f;

// ---- speed loop -------------------------------------------------------------------------
const uint16_t CONTROL_PERIOD_MS = 10;
const float KFF = 0.12f;            // PWM counts per mm/s of set-point (feed-forward)
const float KP = 0.3f;              // PWM counts per mm/s of error
const float KI = 1.5f;              // PWM counts per mm of accumulated error
const float INTEGRAL_LIMIT = 100.0f;  // mm, anti-windup
const int PWM_MAX = 255;

const float MM_PER_TICK = 2.0f * 3.14159265f * WHEEL_RADIUS_MM / TICKS_PER_REV;

volatile int32_t left_ticks = 0;
volatile int32_t right_ticks = 0;

struct Wheel {
    uint8_t pwm_pin;
    uint8_t dir_pin;
    bool reversed;
    int32_t last_ticks;
    float integral;
};

static Wheel left_wheel = {LEFT_PWM, LEFT_DIR, LEFT_MOTOR_REVERSED, 0, 0.0f};
static Wheel right_wheel = {RIGHT_PWM, RIGHT_DIR, RIGHT_MOTOR_REVERSED, 0, 0.0f};
static bridge_t bridge;
static uint32_t last_control_ms = 0;
static uint16_t battery_mv = 0;

// x2 decoding: on every edge of A, B tells the direction
static void left_encoder_isr() {
    bool forward = digitalRead(LEFT_ENC_A) != digitalRead(LEFT_ENC_B);
    left_ticks += (forward != LEFT_ENCODER_REVERSED) ? 1 : -1;
}

static void right_encoder_isr() {
    bool forward = digitalRead(RIGHT_ENC_A) != digitalRead(RIGHT_ENC_B);
    right_ticks += (forward != RIGHT_ENCODER_REVERSED) ? 1 : -1;
}

static void serial_write(void *ctx, const uint8_t *data, size_t len) {
    (void)ctx;
    Serial.write(data, len);
}

static void drive(const Wheel &w, int pwm) {
    if (w.reversed) {
        pwm = -pwm;
    }
    digitalWrite(w.dir_pin, pwm < 0 ? HIGH : LOW);
    analogWrite(w.pwm_pin, pwm < 0 ? -pwm : pwm);
}

// one PI step: set-point and measured speed in mm/s, returns the PWM command
static int speed_loop(Wheel &w, int16_t set_mm_s, int32_t ticks, float dt_s) {
    float measured = (float)(int32_t)(ticks - w.last_ticks) * MM_PER_TICK / dt_s;
    w.last_ticks = ticks;
    if (set_mm_s == 0) {
        w.integral = 0.0f;  // stopped: no drive at all (no creeping from the integrator)
        return 0;
    }
    float error = (float)set_mm_s - measured;
    float u = KFF * set_mm_s + KP * error + KI * w.integral;
    // integrate only when not saturated in the error's direction (anti-windup)
    if (!((u >= PWM_MAX && error > 0.0f) || (u <= -PWM_MAX && error < 0.0f))) {
        w.integral = constrain(w.integral + error * dt_s, -INTEGRAL_LIMIT, INTEGRAL_LIMIT);
    }
    return (int)constrain(u, (float)-PWM_MAX, (float)PWM_MAX);
}

static uint16_t read_battery_mv() {
    float mv = analogRead(BATTERY_PIN) * (ADC_REFERENCE_MV / 1023.0f) * BATTERY_DIVIDER;
    return mv > 65535.0f ? 65535u : (uint16_t)mv;
}

void setup() {
    pinMode(LEFT_PWM, OUTPUT);
    pinMode(LEFT_DIR, OUTPUT);
    pinMode(RIGHT_PWM, OUTPUT);
    pinMode(RIGHT_DIR, OUTPUT);
    drive(left_wheel, 0);
    drive(right_wheel, 0);
    pinMode(LEFT_ENC_A, INPUT_PULLUP);
    pinMode(LEFT_ENC_B, INPUT_PULLUP);
    pinMode(RIGHT_ENC_A, INPUT_PULLUP);
    pinMode(RIGHT_ENC_B, INPUT_PULLUP);
    if (ESTOP_PIN >= 0) {
        pinMode(ESTOP_PIN, INPUT_PULLUP);
    }
    if (FAULT_PIN >= 0) {
        pinMode(FAULT_PIN, INPUT_PULLUP);
    }
    attachInterrupt(digitalPinToInterrupt(LEFT_ENC_A), left_encoder_isr, CHANGE);
    attachInterrupt(digitalPinToInterrupt(RIGHT_ENC_A), right_encoder_isr, CHANGE);
    Serial.begin(115200);
    battery_mv = read_battery_mv();
    last_control_ms = millis();
    bridge_init(&bridge, last_control_ms, serial_write, NULL);
#ifdef __AVR__
    wdt_enable(WDTO_250MS);
#endif
}

void loop() {
    uint32_t now = millis();
    while (Serial.available() > 0) {
        uint8_t c = (uint8_t)Serial.read();
        bridge_rx(&bridge, &c, 1, now);
    }
    if (ESTOP_PIN >= 0 && digitalRead(ESTOP_PIN) == LOW) {
        bridge_raise_fault(&bridge, BRIDGE_FAULT_ESTOP);
    }
    if (FAULT_PIN >= 0 && digitalRead(FAULT_PIN) == LOW) {
        bridge_raise_fault(&bridge, BRIDGE_FAULT_OVERCURRENT);
    }

    int32_t left, right;
    noInterrupts();
    left = left_ticks;
    right = right_ticks;
    interrupts();
    bridge_poll(&bridge, now, left, right, battery_mv);

    if (bridge_faults(&bridge) & BRIDGE_FAULTS_STOPPING) {
        // stop at once, not at the next control step
        drive(left_wheel, 0);
        drive(right_wheel, 0);
    }
    uint32_t elapsed = now - last_control_ms;
    if (elapsed >= CONTROL_PERIOD_MS) {
        float dt_s = elapsed * 0.001f;
        last_control_ms = now;
        drive(left_wheel, speed_loop(left_wheel, bridge_left_mm_s(&bridge), left, dt_s));
        drive(right_wheel, speed_loop(right_wheel, bridge_right_mm_s(&bridge), right, dt_s));
        // low-pass the battery reading (about 0.1 s)
        battery_mv = (uint16_t)(((uint32_t)battery_mv * 7u + read_battery_mv()) / 8u);
    }
#ifdef __AVR__
    wdt_reset();
#endif
}
