
BlogitsJ(®"¿Æ\j¿©f
?ˆkÅ¾ÝF?e?Kne¿)Ãœ¿„¯½Qæ>