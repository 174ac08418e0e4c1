"""The simulator: world, robot and sensor models, and the realtime and lockstep backends."""
