"""Large language model providers behind one small interface, and the resilience around them."""
