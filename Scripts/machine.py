"""The machine a benchmark ran on, as the benchmarks print it: lscpu's model name, family, model and flags.

    from machine import machine_lines   # Scripts/ is on sys.path when a script in it runs
    for line in machine_lines():
        print(line)
"""

import os
import platform
import subprocess


def cpu_model():
    with open("/proc/cpuinfo") as f:
        for line in f:
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    return platform.processor() or "unknown"


def lscpu():
    """lscpu's fields (model name, flags, ...), or /proc/cpuinfo's when lscpu is missing."""
    fields = {}
    try:
        output = subprocess.run(["lscpu"], text=True, capture_output=True, check=True).stdout
        for line in output.splitlines():
            if ":" in line:
                key, value = line.split(":", 1)
                fields[key.strip()] = value.strip()
    except (OSError, subprocess.CalledProcessError):
        with open("/proc/cpuinfo") as f:
            for line in f:
                if ":" in line:
                    key, value = line.split(":", 1)
                    names = {"model name": "Model name", "flags": "Flags", "cpu family": "CPU family", "model": "Model"}
                    fields.setdefault(names.get(key.strip(), key.strip()),
                                      value.strip())
    return fields


def simd_flags(flags):
    """The flags that decide the kernel level (and ORT's), in the order lscpu prints them."""
    wanted = ("avx", "avx2", "fma", "f16c", "avx512", "amx", "vnni")
    return " ".join(f for f in flags.split() if f.startswith(wanted))


def machine_lines():
    """Three lines: model name, family, model, cores and load average; the SIMD flags; all of lscpu's flags."""
    fields = lscpu()
    with open("/proc/loadavg") as f:
        load = " ".join(f.read().split()[:3])
    return [f"machine: {fields.get('Model name', cpu_model())} (family {fields.get('CPU family', '?')}, model "
            f"{fields.get('Model', '?')}), {os.cpu_count()} cores; load average {load}",
            f"  lscpu SIMD flags: {simd_flags(fields.get('Flags', ''))}",
            f"  lscpu flags: {fields.get('Flags', 'unknown')}"]
