"""sandbox/sap"""
