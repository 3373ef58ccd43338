import Resin
