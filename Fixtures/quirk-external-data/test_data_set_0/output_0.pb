
BlogitsJ(ÁŒŽ½­pq?Qy¾s?PÜ¼>â¬¨¼hW¿â%M¾¼ ¿ÿv%?