from orderopt.cli import console

console()
