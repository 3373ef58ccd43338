
BprobsJ(ÿษ;Eÿ?YVz=k<๐d(>ฮ;=ฺRY=`฿Y<Vไร;ฺฟ<