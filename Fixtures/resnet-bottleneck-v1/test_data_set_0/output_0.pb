
BlogitsJ(▄&b╜l$r=Ю2H?Щ=рЪ?mT=║D?╔єr?j{>вшG┐