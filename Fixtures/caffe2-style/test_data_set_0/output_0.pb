
Bgpu_0/softmax_1J(Fá>¸>;M‘<Oà§<˜U=ÃCT=•ìO>[°Ö<À>™<ºK=