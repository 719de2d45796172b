"""fashionvl.modeling"""
