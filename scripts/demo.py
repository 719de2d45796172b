"""The README's demo (`make demo`): MVLT end to end on the synthetic catalog on a CPU. See `fashionvl/demo.py`."""

from fashionvl.demo import main

if __name__ == "__main__":
    main()
