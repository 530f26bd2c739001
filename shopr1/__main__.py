"""`python -m shopr1` is the `shopr1` command."""

from shopr1.cli import main

if __name__ == "__main__":
    main()
