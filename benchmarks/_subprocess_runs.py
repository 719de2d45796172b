"""What the step benchmarks share: run a measurement in a fresh process, and wait for a CUDA device."""

import torch


def run_in_subprocess(context, target, *args):
    """Run `target(*args, queue)` in a new process of `context` (e.g. spawn) and return what it put on the queue."""
    queue = context.Queue()
    process = context.Process(target=target, args=(*args, queue))
    process.start()
    result = queue.get()
    process.join()
    if process.exitcode:
        raise RuntimeError(f"{target.__name__} exited with code {process.exitcode}.")
    return result


def synchronize(device: torch.device) -> None:
    """Wait for queued CUDA work, so that a timer measures it (no-op on CPU)."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)
