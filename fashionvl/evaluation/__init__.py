"""fashionvl.evaluation"""
