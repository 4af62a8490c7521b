"""The tutorial chapters (``NN_name.py``, jupytext percent scripts), shipped inside the
package as ``tinydip.tutorials`` so that ``tinydip notebooks`` works from any install."""
