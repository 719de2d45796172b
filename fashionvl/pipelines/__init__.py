"""fashionvl.pipelines"""
