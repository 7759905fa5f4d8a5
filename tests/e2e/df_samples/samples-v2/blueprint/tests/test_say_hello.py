# Activity functions require no special implementation aside from standard Azure Functions
#   unit testing for Python. As such, no test is implemented here.
# For more information about testing Azure Functions in Python, see the official documentation:
# https://learn.microsoft.com/en-us/azure/azure-functions/functions-reference-python#unit-testing