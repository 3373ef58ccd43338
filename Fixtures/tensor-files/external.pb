Bweightsj
locationweights.binp