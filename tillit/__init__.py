"""tillit: the customer system of Avara AS, keeping its privacy policy by construction."""
