"""Language-model backends shared by the persona users (simulators) and the LLM goal planner (policies).

They sit below both layers so neither imports the other to reach a model.
"""
