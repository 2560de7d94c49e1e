#include "Dispatch.h"
#include <stdlib.h>
#include <string.h>
#if defined(__x86_64__) || defined(__i386__)
#include <cpuid.h>
#endif

// Which build of each kernel runs: one notion, "the kernel level", portable < avx2 < avx512.
// The CPU's level is what both the processor (cpuid) and the operating system (xgetbv: the register state
// is saved on context switches) support. FRUITFEATURES_KERNEL_LEVEL can lower it for the whole process,
// a thread can lower it for itself (tests); nothing can raise it above the CPU's.

#if defined(__x86_64__) || defined(__i386__)
// XCR0, the register state the OS saves. Read with the raw opcode of xgetbv so no target attribute is needed.
static unsigned long long read_xcr0(void) {
    unsigned int eax, edx;
    __asm__ volatile(".byte 0x0f, 0x01, 0xd0" : "=a"(eax), "=d"(edx) : "c"(0));
    return ((unsigned long long)edx << 32) | eax;
}
#endif

int ffk_cpu_kernel_level(void) {
#if defined(__x86_64__) || defined(__i386__)
    unsigned int eax, ebx, ecx, edx;
    if (!__get_cpuid(1, &eax, &ebx, &ecx, &edx)) return FFK_LEVEL_PORTABLE;
    int has_fma = (ecx >> 12) & 1, has_osxsave = (ecx >> 27) & 1, has_avx = (ecx >> 28) & 1;
    if (!(has_fma && has_osxsave && has_avx)) return FFK_LEVEL_PORTABLE;
    unsigned long long xcr0 = read_xcr0();
    // Bits 1 and 2: SSE and AVX (ymm) state.
    if ((xcr0 & 0x6) != 0x6) return FFK_LEVEL_PORTABLE;
    if (__get_cpuid_max(0, 0) < 7) return FFK_LEVEL_PORTABLE;
    __cpuid_count(7, 0, eax, ebx, ecx, edx);
    int has_avx2 = (ebx >> 5) & 1;
    if (!has_avx2) return FFK_LEVEL_PORTABLE;
    int has_avx512f = (ebx >> 16) & 1, has_avx512dq = (ebx >> 17) & 1, has_avx512bw = (ebx >> 30) & 1,
        has_avx512vl = (ebx >> 31) & 1;
    // Bits 5–7: opmask registers, the upper halves of zmm0–15, and zmm16–31.
    int os_saves_zmm = (xcr0 & 0xe0) == 0xe0;
    if (has_avx512f && has_avx512dq && has_avx512bw && has_avx512vl && os_saves_zmm) return FFK_LEVEL_AVX512;
    return FFK_LEVEL_AVX2;
#else
    return FFK_LEVEL_PORTABLE;
#endif
}

int ffk_cpu_has_avx2_fma(void) { return ffk_cpu_kernel_level() >= FFK_LEVEL_AVX2; }

const char *ffk_kernel_level_name(int level) {
    switch (level) {
    case FFK_LEVEL_AVX512: return "avx512";
    case FFK_LEVEL_AVX2: return "avx2";
    default: return "portable";
    }
}

int ffk_kernel_level_named(const char *name) {
    if (!name) return -1;
    for (int level = FFK_LEVEL_PORTABLE; level <= FFK_LEVEL_AVX512; level++) {
        if (strcasecmp(name, ffk_kernel_level_name(level)) == 0) return level;
    }
    return -1;
}

// -1 until first asked; then min(CPU, environment). Relaxed atomics: every thread computes the same value.
static int process_level = -1;
// Per thread, so a test forcing a level does not change what other threads run. -1: no cap.
static _Thread_local int thread_cap = -1;

int ffk_process_kernel_level(void) {
    int level = __atomic_load_n(&process_level, __ATOMIC_RELAXED);
    if (level < 0) {
        level = ffk_cpu_kernel_level();
        int requested = ffk_kernel_level_named(getenv(FFK_KERNEL_LEVEL_VARIABLE));
        if (requested >= 0 && requested < level) level = requested;
        __atomic_store_n(&process_level, level, __ATOMIC_RELAXED);
    }
    return level;
}

int ffk_kernel_level_request_is_valid(void) {
    const char *value = getenv(FFK_KERNEL_LEVEL_VARIABLE);
    return value == NULL || value[0] == 0 || ffk_kernel_level_named(value) >= 0;
}

int ffk_level(void) {
    int level = ffk_process_kernel_level();
    return thread_cap >= 0 && thread_cap < level ? thread_cap : level;
}

int ffk_kernel_level(void) { return ffk_level(); }

int ffk_set_thread_kernel_level(int level) {
    thread_cap = level < 0 ? -1 : level;
    return ffk_level();
}

void ffk_set_simd_enabled(int enabled) { thread_cap = enabled ? -1 : FFK_LEVEL_PORTABLE; }

int ffk_simd_active(void) { return ffk_level() >= FFK_LEVEL_AVX2; }
