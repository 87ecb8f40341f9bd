"""The reference candidate client (the simulator): what a real candidate app must do."""
