"""Past one machine: the cluster inventory, placement of nodes on servers, and the servers' checks (issue 27)."""
