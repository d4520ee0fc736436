"""``python -m tinygrad_cnn``: the same as the ``tinygrad-cnn`` command."""

from tinygrad_cnn.cli import main

raise SystemExit(main())
