"""Singer tap for Exact Online, a thin layer over exact_online_core."""
