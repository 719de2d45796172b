"""fashionvl.configs"""
