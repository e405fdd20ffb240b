"""The arguments several callbacks share, and those of the Lightning callbacks a config names, each declared once."""

from ganforge.rules import folder, integer

EVERY_N_STEPS = integer("every_n_steps", 1, "250")
OUTPUT_DIR = folder("output_dir")
# Lightning's own callbacks (conf/callbacks/), by target.
TARGET_RULES = {
    "lightning.pytorch.callbacks.RichProgressBar": (
        integer("refresh_rate", 0, "5", "an integer >= 0 (0: no updates)"),
    ),
    "lightning.pytorch.callbacks.RichModelSummary": (
        integer("max_depth", -1, "2", "an integer >= -1 (-1: every layer)"),
    ),
}
