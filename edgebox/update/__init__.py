"""Updates without hands: the box polls a channel of signed releases and installs through RAUC."""
