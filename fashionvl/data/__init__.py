"""fashionvl.data"""
