
BlogitsJ(qz~?{ѓ+њЖrЃ>фиќњhєњ>XЄ>mшљ?o ?GEњыЯњ