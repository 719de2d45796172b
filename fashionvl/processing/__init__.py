"""fashionvl.processing"""
