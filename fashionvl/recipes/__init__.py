"""fashionvl.recipes: training / evaluation logic behind the scripts (one module per model family)."""
