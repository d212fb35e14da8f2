"""Independent numpy/scipy references the tests (and the analysis scripts) check tdsim against:
steady states and gradients of networks solved by other means than tdsim's time integration.

- laplacian: linear networks of conductances, Laplacian solves and finite-difference gradients;
- nonlinear: conductances plus fixed Shockley diodes, Newton on Kirchhoff's current law;
- cycles: Lin's edge networks in the cycle-space form (Ω, its gradients)."""
