"""fashionvl.training"""
