"""Process memory read from Linux /proc, shared by the CPU benchmarks (NaN / no-op on other systems)."""


def process_memory_mib(field_name: str) -> float:
    """`VmRSS` (resident now) or `VmHWM` (peak resident) of this process in MiB."""
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith(field_name + ":"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return float("nan")


def reset_peak_memory() -> None:
    """Reset VmHWM to the current VmRSS (Linux >= 4.0: write 5 to /proc/self/clear_refs)."""
    try:
        with open("/proc/self/clear_refs", "w") as clear_refs:
            clear_refs.write("5")
    except OSError:
        pass
