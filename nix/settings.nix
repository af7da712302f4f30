# nix/settings.nix — healerd's settings (a Nix attribute set) rendered to the libconfig syntax
# of healerd.conf. Builtins only, no nixpkgs: nix/module.nix uses it, and
# tests/integration/nix_files.sh evaluates it with nix-instantiate (no nixpkgs on the test host)
# and reads the result back with libconfig itself.
#
#   import ./settings.nix { agent.mode = "dry-run"; plugins.cpu.enabled = true; }
#   => "agent = {\n  mode = \"dry-run\";\n};\nplugins = {\n  cpu = {\n  ..."
#
# Mapping: attribute set -> group { }, list of scalars of one type -> array [ ], any other list
# -> list ( ), string -> "..." escaped for libconfig's scanner (\" \\ \n \t \r \f, \xNN for the
# other control bytes; UTF-8 passes through), int -> int (L suffix beyond 32 bits: libconfig 1.5
# wraps a plain literal), float -> float (always with a '.' or an exponent, or libconfig reads
# an int), bool -> true/false, path or derivation -> its string, null -> the key is left out
# (the default applies). Anything else, or a name libconfig cannot read, is an error naming the
# attribute path.
let
  inherit (builtins)
    all any attrNames concatStringsSep elemAt filter foldl' fromJSON genList isAttrs isBool isFloat
    isInt isList isPath isString length match replaceStrings stringLength substring toJSON
    typeOf throw;

  hexDigits = "0123456789abcdef";
  hex2 = n: substring (n / 16) 1 hexDigits + substring (n - n / 16 * 16) 1 hexDigits;
  # Nix string literals cannot spell most control characters; JSON's \u escapes can.
  charOf = n: fromJSON "\"\\u00${hex2 n}\"";
  named = { "9" = "\\t"; "10" = "\\n"; "12" = "\\f"; "13" = "\\r"; };
  # Every control byte a Nix string can hold (NUL cannot be in one), and DEL.
  controls = genList (i: i + 1) 31 ++ [ 127 ];
  escFrom = [ "\\" "\"" ] ++ map charOf controls;
  escTo = [ "\\\\" "\\\"" ]
    ++ map (n: named.${toString n} or "\\x${hex2 n}") controls;
  # replaceStrings scans once, left to right: an inserted backslash is never escaped again.
  quote = s: "\"" + replaceStrings escFrom escTo s + "\"";

  showPath = path: concatStringsSep "." path;
  fail = path: msg: throw "healerd settings: ${showPath path}: ${msg}";

  # libconfig 1.5's scanner: a name is [A-Za-z*][-A-Za-z0-9_*]*; "true"/"false" in any case
  # are read as booleans, never as names.
  checkName = path: name:
    if match "[A-Za-z*][-A-Za-z0-9_*]*" name == null then
      fail (path ++ [ name ]) "\"${name}\" is not a libconfig setting name (a letter or '*' first, then letters, digits, '-', '_', '*')"
    else if match "[Tt][Rr][Uu][Ee]|[Ff][Aa][Ll][Ss][Ee]" name != null then
      fail (path ++ [ name ]) "\"${name}\" cannot be a setting name: libconfig reads it as a boolean"
    else name;

  int32Min = -2147483648;
  int32Max = 2147483647;
  wide = v: v < int32Min || v > int32Max;
  renderInt = v: toString v + (if wide v then "L" else "");

  # The shortest text that libconfig reads back as exactly this float. builtins.toJSON gives
  # only 6 significant digits in older Nix (2.8: 123456789.5 -> 1.23457e+08), so each result
  # is read back with fromJSON and, when that is not the same number, up to 17 decimals are
  # built from exact integer arithmetic. A float neither way can spell is an error, never a
  # silently different value.
  hasPointOrExp = s: match ".*[.eE].*" s != null;
  pow10 = k: foldl' (a: _: a * 10) 1 (genList (x: x) k);
  withPoint = m: k:
    let
      neg = m < 0;
      a = if neg then -m else m;
      ds = toString a;
      padded = if stringLength ds > k then ds
        else concatStringsSep "" (genList (_: "0") (k + 1 - stringLength ds)) + ds;
      cut = stringLength padded - k;
    in (if neg then "-" else "") + substring 0 cut padded + "." + substring cut k padded;
  exactly = v: s: fromJSON s == v;
  renderFloat = path: v:
    let
      j = toJSON v;
      j' = if hasPointOrExp j then j else j + ".0";
      scaled = filter (s: s != null) (genList (i:
        let k = i + 1; p = pow10 k; x = v * p;
            m = if x < 0 then builtins.ceil (x - 0.5) else builtins.floor (x + 0.5);
        in if (x < 0 && -x > 9.0e15) || x > 9.0e15 then null
           else let s = withPoint m k; in if exactly v s then s else null) 17);
    in if exactly v j' then j'
       else if scaled != [ ] then elemAt scaled 0
       else fail path "the float ${j} cannot be written exactly by this Nix (${builtins.nixVersion}); round it";

  isScalar = v: isString v || isInt v || isFloat v || isBool v || isPath v
    || (isAttrs v && v ? outPath);
  # An array holds scalars of one libconfig type; int and int64 are two (libconfig: "mismatched
  # element type in array"), so one int past 32 bits makes every int of the array 64-bit.
  kind = v: if isInt v then "int" else if isFloat v then "float" else if isBool v then "bool"
    else "string";
  isArray = l: l == [ ] || (all isScalar l && all (x: kind x == kind (elemAt l 0)) l);

  indent = d: concatStringsSep "" (genList (_: "  ") d);

  render = path: d: v:
    if v == null then fail path "null inside a list (only an attribute may be null: left out)"
    else if isBool v then (if v then "true" else "false")
    else if isInt v then renderInt v
    else if isFloat v then renderFloat path v
    else if isString v then quote v
    else if isPath v then quote (toString v)
    else if isAttrs v && v ? outPath then quote (toString v)
    else if isAttrs v then renderGroup path d v
    else if isList v then renderList path d v
    else fail path "a ${typeOf v} has no libconfig form";

  renderList = path: d: l:
    let
      items = genList (i: render (path ++ [ "[${toString i}]" ]) (d + 1) (elemAt l i)) (length l);
      longs = map (x: toString x + "L") l;
    in if isArray l then
         "[" + concatStringsSep ", " (if l != [ ] && isInt (elemAt l 0) && any wide l then longs else items) + "]"
       else "(\n" + concatStringsSep ",\n" (map (s: indent (d + 1) + s) items) + "\n" + indent d + ")";

  # One "name = value;" line per attribute that is not null, in name order.
  settingLines = path: d: set:
    map (n: indent d + checkName path n + " = " + render (path ++ [ n ]) d set.${n} + ";")
      (filter (n: set.${n} != null) (attrNames set));

  renderGroup = path: d: set:
    let lines = settingLines path (d + 1) set;
    in if lines == [ ] then "{ }"
       else "{\n" + concatStringsSep "\n" lines + "\n" + indent d + "}";
in
settings:
  if !(isAttrs settings) then
    throw "healerd settings: the top level must be an attribute set, not a ${typeOf settings}"
  else
    "# Generated by healerd's nix/settings.nix from services.healerd.settings: edit the Nix\n"
    + "# configuration, not this file.\n"
    + concatStringsSep "\n" (settingLines [ ] 0 settings) + "\n"
