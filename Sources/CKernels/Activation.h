#pragma once
// The activations of the FFK_ACTIVATION_ kinds on one float, 8 floats and 16 floats: shared by the depthwise,
// element-wise and 1×1 kernels, so a fused epilogue computes exactly what a separate ffk_activate pass would.
// Not part of the module's interface. Include after defining v8f and v16f (GCC/Clang vector extensions).
#include "MobileNetV3Kernels.h"

#define ACTIVATION_INLINE static inline __attribute__((always_inline))

ACTIVATION_INLINE float ffk_activate1(float x, int activation) {
    if (activation == FFK_ACTIVATION_RELU6) return x < 0.0f ? 0.0f : (x > 6.0f ? 6.0f : x);
    if (activation == FFK_ACTIVATION_RELU) return x < 0.0f ? 0.0f : x;
    if (activation == FFK_ACTIVATION_HARD_SWISH) {
        float gate = x + 3.0f;
        gate = gate < 0.0f ? 0.0f : (gate > 6.0f ? 6.0f : gate);
        return x * (gate / 6.0f);
    }
    return x;
}

ACTIVATION_INLINE v8f ffk_activate8(v8f x, int activation) {
    const v8f zero = {0, 0, 0, 0, 0, 0, 0, 0}, three = {3, 3, 3, 3, 3, 3, 3, 3}, six = {6, 6, 6, 6, 6, 6, 6, 6};
    if (activation == FFK_ACTIVATION_RELU6) return __builtin_elementwise_min(__builtin_elementwise_max(x, zero), six);
    if (activation == FFK_ACTIVATION_RELU) return __builtin_elementwise_max(x, zero);
    if (activation == FFK_ACTIVATION_HARD_SWISH) {
        v8f gate = __builtin_elementwise_min(__builtin_elementwise_max(x + three, zero), six);
        return x * (gate / six);
    }
    return x;
}

ACTIVATION_INLINE v16f ffk_activate16(v16f x, int activation) {
    const v16f zero = {0}, three = zero + 3.0f, six = zero + 6.0f;
    if (activation == FFK_ACTIVATION_RELU6) return __builtin_elementwise_min(__builtin_elementwise_max(x, zero), six);
    if (activation == FFK_ACTIVATION_RELU) return __builtin_elementwise_max(x, zero);
    if (activation == FFK_ACTIVATION_HARD_SWISH) {
        v16f gate = __builtin_elementwise_min(__builtin_elementwise_max(x + three, zero), six);
        return x * (gate / six);
    }
    return x;
}
