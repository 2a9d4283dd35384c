"""`python -m neuralcodec`: the `muzip` command line."""

from .cli import main

if __name__ == "__main__":
    main()
